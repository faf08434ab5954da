"""`irnoise train` as a job: label files in; model.pt, history.csv (and filter.json) out.

The loop itself (irnoise.train.loop) takes labels in memory and returns the trained
model; this module reads the label files, builds a noise-robust method's filter, and
writes what the workflow's later rules read (rank 0 only).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from irnoise.config import Training
from irnoise.errors import UserError
from irnoise.plan import ORACLE, RANDOM_SUBSET
from irnoise.train import checkpoint
from irnoise.train.labels import load_clean_labels, train_labels
from irnoise.train.loop import HISTORY_COLUMNS, TrainResult, train
from irnoise.train.methods import SampleFilter
from irnoise.train.runtime import shutdown

# Above this share of dropped rows, a method run warns that it learned from few samples.
MOSTLY_DROPPED = 0.9


def run_training(
    shard_dir: str | Path,
    labels_path: str | Path | None,
    config: Training | Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
    method: dict[str, Any] | None = None,
    keep_path: str | Path | None = None,
    keep_checkpoint: bool = False,
) -> TrainResult:
    """`irnoise train`: train, then write model.pt and history.csv (rank 0 only).

    With a noise-robust `method` other than none, also filter.json: what its filter
    dropped (by each row's last verdict) against the truly changed labels. The
    checkpoint is deleted once model.pt is written, unless `keep_checkpoint`.
    """
    if not isinstance(config, Training):
        config = Training.from_mapping(config)
    labels = train_labels(shard_dir, labels_path)
    sample_filter = method_filter(method, shard_dir, labels, keep_path, config, seed)
    trained_on = labels
    if method and method.get("name") == RANDOM_SUBSET:
        trained_on = load_clean_labels(shard_dir)  # the control learns from clean labels
    result = train(shard_dir, trained_on, config, seed, out_dir, threads, sample_filter)
    if result.runtime.is_main and sample_filter is not None:
        write_filter_summary(out_dir, sample_filter, labels, load_clean_labels(shard_dir))
    if result.runtime.is_main:
        write_outputs(out_dir, result, config, seed, shard_dir)
        if not keep_checkpoint:
            checkpoint.remove(out_dir)
    shutdown(result.runtime)
    return result


def method_filter(
    method: dict[str, Any] | None,
    shard_dir: str | Path,
    labels: np.ndarray,
    keep_path: str | Path | None,
    config: Training,
    seed: int = 0,
) -> SampleFilter | None:
    """The method's per-batch filter; the oracle's keep-mask (and its random control's)
    comes from the clean labels."""
    from irnoise.train.methods import build_filter
    from irnoise.train.methods.oracle import oracle_keep, random_subset_keep

    if not method:
        return None
    keep_rows = None
    if method.get("name") == ORACLE:
        keep_rows = oracle_keep(labels, load_clean_labels(shard_dir))
    elif method.get("name") == RANDOM_SUBSET:
        keep_rows = random_subset_keep(labels, load_clean_labels(shard_dir), seed)
    elif keep_path is not None:
        if not Path(keep_path).is_file():
            raise UserError(f"{keep_path} not found: run the method's first stage (its rule) first")
        if Path(keep_path).suffix == ".npz":  # a staged method's first stage
            with np.load(keep_path, allow_pickle=False) as data:
                stage1 = {key: data[key] for key in data.files}
            return build_filter(method, labels, None, config.embedding_size, stage1)
        keep_rows = np.load(keep_path).astype(bool)
    return build_filter(method, labels, keep_rows, config.embedding_size)


def write_filter_summary(
    out_dir: str | Path, sample_filter: SampleFilter, labels: np.ndarray, clean: np.ndarray
) -> None:
    from irnoise.atomic import save_npy, write_json
    from irnoise.train.methods import filter_summary

    dropped = sample_filter.record.dropped()
    save_npy(Path(out_dir) / "dropped.npy", dropped)
    summary = filter_summary(dropped, labels, clean)
    if dropped.mean() > MOSTLY_DROPPED:
        # Filters that judge by the embedding (sub-center angles, kNN labels) drop almost
        # everything when the embedding is weak: say so beside the run, not only in Table 3.
        warnings.warn(
            f"method {sample_filter.method}: the filter dropped {dropped.mean():.0%} of the "
            "rows at their last visit, so the model learned from few samples; the embedding "
            "it judged by is probably too weak (train longer, or a longer warm-up)",
            stacklevel=2,
        )
    write_json(Path(out_dir) / "filter.json", {"method": sample_filter.method} | summary)


def write_outputs(
    out_dir: str | Path, result: TrainResult, config: Training, seed: int, shard_dir: str | Path
) -> None:
    """model.pt (what evaluation loads) and history.csv (the epochs' rows)."""
    from irnoise.atomic import write_text
    from irnoise.train import state_files, train_set

    # State dicts and plain values only (loaded with weights_only=True); no timings,
    # so that identical runs give identical files (history.csv has them).
    payload = {
        "state_dict": result.model.state_dict(),
        "loss_state_dict": result.loss.state_dict(),
        "config": config.to_dict(),
        "num_classes": result.num_classes,
        train_set.KEY: train_set.identity(shard_dir),
        "seed": seed,
        "epochs_done": len(result.history),
    }
    state_files.save(Path(out_dir) / "model.pt", payload)
    write_text(Path(out_dir) / "history.csv", history_csv(result.history))


def history_csv(history: list[dict[str, float]]) -> str:
    lines = [",".join(HISTORY_COLUMNS)]
    for row in history:
        lines.append(",".join(f"{row[column]:.6g}" for column in HISTORY_COLUMNS))
    return "\n".join(lines) + "\n"
