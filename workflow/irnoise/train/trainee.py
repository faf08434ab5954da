"""The module each training step calls: the network and its loss as one `nn.Module`.

One module, so that DistributedDataParallel averages the gradients of both (the loss's
class weights train too). With a noise-robust method, the loss sees only the samples
the method's filter keeps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# A noise-robust method's per-batch filter (irnoise.train.methods), bound to the batch's
# rows and epoch: embeddings -> keep-mask (the loss sees only the kept samples), or the
# batch's own loss function (loss, embeddings, labels) -> value for methods that weight
# samples instead of dropping them (Smooth Proxy-Anchor, CleanNet).
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
KeepFunction = Callable[[torch.Tensor], "torch.Tensor | BatchLoss"]


class Trainee(nn.Module):
    """Network and loss as one module, so that DDP averages the gradients of both."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        keep: KeepFunction | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.model(images)
        # Margin losses take arccos of cosines near 1: float32, outside bf16 autocast.
        with torch.autocast(embeddings.device.type, enabled=False):
            if keep is None:
                value = self.loss(embeddings.float(), labels)
            else:
                verdict = keep(embeddings)
                if isinstance(verdict, torch.Tensor):
                    value = kept_loss(self.loss, embeddings.float(), labels, verdict)
                else:
                    value = verdict(self.loss, embeddings.float(), labels)
        return value, embeddings


def kept_loss(
    loss: nn.Module, embeddings: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor
) -> torch.Tensor:
    """The loss on the kept samples; zero (with every parameter in the graph) if none is."""
    if keep.any():
        return loss(embeddings[keep], labels[keep])
    return loss(embeddings[:1], labels[:1]) * 0.0
