"""PRISM: ranking-based instance selection (Liu et al., CVPR 2021).

"Noise-resistant Deep Metric Learning with Ranking-based Instance Selection"; the recipe
follows the reference code (alibaba-edu/Ranking-based-Instance-Selection,
ret_benchmark/losses/memory_contrastive_loss_w_PRISM.py), applied to a batch before the
loss instead of inside a contrastive loss:

- A memory of recent (kept) embeddings and labels: pytorch-metric-learning's
  `CrossBatchMemory` queue, used only for its storage (its loss wrapper computes a loss on
  the memory, which ArcFace does not take).
- Class centers: the mean memory embedding of a class, refreshed for the classes enqueued
  by the previous batch; classes never enqueued have a zero center.
- Score of sample i with label y: exp(f_i . c_y) / sum_k exp(f_i . c_k) over all classes
  (zero centers included, as in the reference); 1 for a class without a center yet.
- Per batch, the floor(noise_rate x B) lowest scores are "to remove"; the highest of them
  joins a sliding window of the last `window` thresholds (unless it is exactly 1, i.e. a
  class without center), and samples scoring at or below the window's mean are dropped.
  If that would drop the whole batch, only the "to remove" ones are dropped and the
  window restarts from the last threshold.
- Warm-up: the reference counts iterations; here whole epochs (`warmup_epochs`), during
  which everything is kept (and enqueued).
- Under DDP (one batch per rank and step), every rank's memory enqueues every rank's kept
  samples of the step, in rank order, so the memories and centers are the same on all
  ranks; the threshold window is each rank's own (its batches' thresholds).
"""

from __future__ import annotations

import torch
from torch import nn

from irnoise.train.methods import SampleFilter
from irnoise.train.methods.sharing import FilterStep


class PrismFilter(SampleFilter):
    def __init__(
        self,
        rows: int,
        num_classes: int,
        embedding_size: int,
        noise_rate: float,
        window: int,
        memory_size: int,
        warmup_epochs: int,
    ) -> None:
        from pytorch_metric_learning.losses import ContrastiveLoss, CrossBatchMemory

        super().__init__(rows)
        self.noise_rate, self.window_size, self.warmup_epochs = noise_rate, window, warmup_epochs
        self.memory = CrossBatchMemory(ContrastiveLoss(), embedding_size, memory_size)
        self.centers = torch.zeros(num_classes, embedding_size)
        self.has_center = torch.zeros(num_classes, dtype=torch.bool)
        self.last_classes = torch.zeros(0, dtype=torch.long)
        self.window: list[float] = []

    def memory_contents(self) -> tuple[torch.Tensor, torch.Tensor]:
        memory = self.memory
        if memory.has_been_filled:
            return memory.embedding_memory, memory.label_memory
        return memory.embedding_memory[: memory.queue_idx], memory.label_memory[: memory.queue_idx]

    def update_centers(self) -> None:
        """Centers of the classes the previous batch enqueued: their mean memory embedding."""
        embeddings, labels = self.memory_contents()
        for label in torch.unique(self.last_classes).tolist():
            self.centers[label] = embeddings[labels == label].mean(dim=0)
            self.has_center[label] = True

    def scores(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """exp(f.c_y) / sum_k exp(f.c_k); 1 where class y has no center yet."""
        probabilities = torch.softmax(embeddings @ self.centers.t(), dim=1)
        own = probabilities.gather(1, labels.view(-1, 1)).view(-1)
        return torch.where(self.has_center[labels], own, torch.ones_like(own))

    def select(self, scores: torch.Tensor) -> torch.Tensor:
        """The keep-mask of one batch's scores, updating the threshold window."""
        removed = int(self.noise_rate * len(scores))
        keep = torch.ones(len(scores), dtype=torch.bool)
        if removed == 0:
            return keep
        to_remove = torch.argsort(scores, stable=True)[:removed]
        threshold = scores[to_remove[-1]].item()
        if threshold == threshold and threshold != 1.0:  # not NaN, not a center-less class
            self.window = [*self.window, threshold][-self.window_size :]
        if not self.window:
            keep[to_remove] = False
            return keep
        keep = scores > sum(self.window) / len(self.window)
        if not keep.any():
            keep = torch.ones(len(scores), dtype=torch.bool)
            keep[to_remove] = False
            self.window = self.window[-1:]
        return keep

    def keep(self, embeddings, labels, rows, epoch):
        device = labels.device
        embeddings, labels = nn.functional.normalize(embeddings.cpu(), dim=1), labels.cpu()
        if epoch <= self.warmup_epochs:
            keep = torch.ones(len(labels), dtype=torch.bool)
        else:
            self.update_centers()
            keep = self.select(self.scores(embeddings, labels))
        return keep.to(device)

    def absorb(self, step: FilterStep) -> None:
        """Enqueue the step's kept samples (every rank's under DDP, in rank order)."""
        embeddings = nn.functional.normalize(step.embeddings, dim=1)[step.keep]
        self.memory.add_to_memory(embeddings, step.labels[step.keep], int(step.keep.sum()))
        self.last_classes = step.labels[step.keep]
