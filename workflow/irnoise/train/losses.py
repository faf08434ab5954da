"""Metric-learning losses from pytorch-metric-learning, by class name, and their class heads.

`build_loss(config, num_classes)` makes `config.loss` with `config.loss_params`,
filling in the class count and embedding size that classification-style losses
(ArcFace, Normalized Softmax, CosFace, ProxyAnchor, ...) need. Those losses own class
weights trained with the network; `class_logits` asks the loss itself for its class
scores (pytorch-metric-learning's `get_cosine`, or `get_logits`), which makes it a
classifier, used for training accuracy and for ImageNet top-1.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from irnoise.config import Training
from irnoise.errors import UserError


def loss_classes() -> dict[str, type]:
    """Every concrete loss class pytorch-metric-learning exports, by name."""
    from pytorch_metric_learning import losses
    from pytorch_metric_learning.losses import BaseMetricLossFunction

    generic = {"BaseMetricLossFunction", "GenericPairLoss"}
    return {
        name: cls
        for name, cls in vars(losses).items()
        if inspect.isclass(cls) and issubclass(cls, BaseMetricLossFunction) and name not in generic
    }


def loss_arguments(cls: type) -> tuple[set[str], set[str]]:
    """(every constructor argument, those without a default) of `cls` and its bases.

    ArcFace passes its bases' arguments on in **kwargs, so the bases' count too; a required
    argument is one the most derived class requires.
    """
    accepted: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters)
    own = inspect.signature(cls.__init__).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required = {
        p.name for p in own if p.default is inspect.Parameter.empty and p.kind not in variadic
    }
    return accepted - {"self", "args", "kwargs"}, required - {"self"}


def build_loss(config: Training | Mapping[str, Any], num_classes: int) -> nn.Module:
    """The pytorch-metric-learning loss `config.loss` with `config.loss_params`."""
    if not isinstance(config, Training):
        config = Training.from_mapping(config)
    classes = loss_classes()
    if config.loss not in classes:
        raise UserError(
            f"unknown loss {config.loss!r}: set the experiment's loss to a "
            f"pytorch-metric-learning loss class name, one of {', '.join(sorted(classes))}"
        )
    cls = classes[config.loss]
    params = dict(config.loss_params)
    accepted, _ = loss_arguments(cls)
    filled = {
        "num_classes": num_classes,
        "embedding_size": config.embedding_size,
        "descriptors_dim": config.embedding_size,  # P2SGradLoss's name for it
    }
    for key, value in filled.items():
        if key in accepted:
            params.setdefault(key, value)
    try:
        return cls(**params)
    except (TypeError, ValueError, AssertionError) as error:
        raise UserError(
            f"loss {config.loss} does not accept loss_params {dict(config.loss_params)}: "
            f"{error}; fix the experiment's loss_params (arguments of {config.loss}: "
            f"{', '.join(sorted(accepted))})"
        ) from error


def has_class_head(loss: nn.Module) -> bool:
    """Whether the loss scores classes: its own cosine helper, or logits from a similarity."""
    if callable(getattr(loss, "get_cosine", None)):
        return True
    distance = getattr(loss, "distance", None)
    return callable(getattr(loss, "get_logits", None)) and getattr(distance, "is_inverted", False)


def class_logits(loss: nn.Module, embeddings: torch.Tensor) -> torch.Tensor:
    """Each embedding's similarity to each class, (N, num_classes), as the loss computes it.

    The large-margin family (ArcFace, CosFace, SubCenterArcFace, ...) gives its cosines
    before margin and scale (`get_cosine`; a class with several centers scores its best).
    Other class-weight losses give `get_logits` through their similarity: cosines for
    ProxyAnchor, cosines over the temperature for Normalized Softmax (multiplied back
    here, so that every head gives cosines), SoftTriple's soft-max over its centers.
    """
    from pytorch_metric_learning.losses import NormalizedSoftmaxLoss

    if not has_class_head(loss):
        raise UserError(
            f"loss {type(loss).__name__} has no class weight matrix, so it gives no classifier: "
            "use a classification-style loss (ArcFaceLoss, NormalizedSoftmaxLoss, CosFaceLoss, "
            "...) for the classification task"
        )
    embeddings = embeddings.float()
    if callable(getattr(loss, "get_cosine", None)):
        return loss.get_cosine(embeddings)
    logits = loss.get_logits(embeddings)
    return logits * loss.temperature if isinstance(loss, NormalizedSoftmaxLoss) else logits


class ClassPredictions:
    """The class head's predictions for the batch the loss just saw, at no extra product.

    pytorch-metric-learning's classification losses compare the embeddings with their
    class weights through their `distance` module (a similarity for ArcFace, CosFace,
    Normalized Softmax, ProxyAnchor, ...); a forward hook keeps that matrix, whose argmax
    is the classifier's when it has one column per class. Otherwise (several centers per
    class, no hook) the predictions come from `class_logits`. Use as a context manager:
    the hook lives inside.
    """

    def __init__(self, loss: nn.Module) -> None:
        self.loss, self.scores, self.handle = loss, None, None

    def __enter__(self) -> ClassPredictions:
        distance = getattr(self.loss, "distance", None)
        is_similarity = getattr(distance, "is_inverted", False)
        if has_class_head(self.loss) and isinstance(distance, nn.Module) and is_similarity:
            self.handle = distance.register_forward_hook(self.keep)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.remove()

    def keep(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.scores = output

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Predicted class of each embedding of the loss's last forward pass."""
        scores, self.scores = self.scores, None
        classes = getattr(self.loss, "num_classes", None)
        if scores is not None and scores.shape == (len(embeddings), classes):
            return scores.argmax(dim=1)
        return class_logits(self.loss, embeddings).argmax(dim=1)
