"""Noise-robust filters under DDP: every rank's filter absorbs every rank's batches.

Each DDP rank trains on its own shards. A filter fed only its rank's batches would hold a
memory (kNN's feature bank, PRISM's queue) of 1/world_size of the samples, and record
verdicts for its rows only, of which rank 0 would write a part. So after each optimizer
step the ranks exchange what their filters saw in that step (rows, labels, embeddings,
verdicts), and every rank absorbs all of it in rank order: memories and records are the
same on every rank, and rank 0's record covers every row.

Ranks take different numbers of steps (their shards hold different counts). DDP's Join
shadows the gradient all-reduce of a rank that ran out of batches; `ExchangeJoinable`
shadows the exchange the same way: the finished rank contributes an empty step and
still absorbs the others'. It follows DDP in Join's list, as the exchange follows the
backward pass. The exchange runs on a gloo group of its own, on CPU tensors, whatever
backend trains (NCCL included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch.distributed.algorithms.join import Joinable, JoinHook

if TYPE_CHECKING:
    from irnoise.train.methods import SampleFilter


@dataclass
class FilterStep:
    """What a filter saw in one step: CPU tensors, one row per sample."""

    rows: torch.Tensor  # int64
    labels: torch.Tensor  # int64
    embeddings: torch.Tensor  # float32, (samples, embedding size)
    keep: torch.Tensor  # bool


class RankExchange:
    """All ranks' `FilterStep`s of one step, concatenated in rank order, on every rank."""

    def __init__(self, embedding_size: int) -> None:
        import torch.distributed as dist

        self.embedding_size = embedding_size
        self.world_size = dist.get_world_size()
        # Every rank creates it, in the same order (the loop does, before the first epoch).
        self.group = dist.new_group(backend="gloo")

    def gather(self, step: FilterStep | None) -> FilterStep:
        import torch.distributed as dist

        step = step or self.empty()
        counts = [torch.zeros(1, dtype=torch.int64) for _ in range(self.world_size)]
        dist.all_gather(counts, torch.tensor([len(step.rows)]), group=self.group)
        size = max(int(count) for count in counts)
        # Pad to the largest count: all_gather takes equal shapes.
        integers = torch.zeros(size, 3, dtype=torch.int64)
        integers[: len(step.rows)] = torch.stack(
            [step.rows.long(), step.labels.long(), step.keep.long()], dim=1
        )
        floats = torch.zeros(size, self.embedding_size, dtype=torch.float32)
        floats[: len(step.rows)] = step.embeddings
        all_integers = [torch.empty_like(integers) for _ in range(self.world_size)]
        all_floats = [torch.empty_like(floats) for _ in range(self.world_size)]
        dist.all_gather(all_integers, integers, group=self.group)
        dist.all_gather(all_floats, floats, group=self.group)
        integers = torch.cat([part[: int(n)] for part, n in zip(all_integers, counts, strict=True)])
        floats = torch.cat([part[: int(n)] for part, n in zip(all_floats, counts, strict=True)])
        return FilterStep(integers[:, 0], integers[:, 1], floats, integers[:, 2].bool())

    def empty(self) -> FilterStep:
        none = torch.zeros(0, dtype=torch.int64)
        return FilterStep(none, none, torch.zeros(0, self.embedding_size), none.bool())


class ExchangeJoinable(Joinable):
    """Lets a rank that ran out of batches keep taking part in the filter's exchange."""

    def __init__(self, sample_filter: SampleFilter, device: torch.device) -> None:
        super().__init__()
        self.sample_filter, self.device = sample_filter, device

    def join_hook(self, **kwargs: Any) -> JoinHook:
        return _ShadowExchange(self.sample_filter)

    @property
    def join_device(self) -> torch.device:
        return self.device

    @property
    def join_process_group(self) -> Any:
        import torch.distributed as dist

        return dist.group.WORLD


class _ShadowExchange(JoinHook):
    def __init__(self, sample_filter: SampleFilter) -> None:
        self.sample_filter = sample_filter

    def main_hook(self) -> None:
        # Once per step the other ranks still take: match their exchange.
        self.sample_filter.share()


def share_across_ranks(sample_filter: SampleFilter, embedding_size: int) -> None:
    """Make `sample_filter` exchange its steps with the other ranks' filters."""
    sample_filter.exchange = RankExchange(embedding_size)
