"""Metric-learning losses from pytorch-metric-learning, by class name, and their class heads.

`build_loss(config, num_classes)` makes `config.loss` with `config.loss_params`,
filling in the class count and embedding size that classification-style losses
(ArcFace, Normalized Softmax, CosFace, ProxyAnchor, ...) need. Those losses own a
class weight matrix that is trained with the network; `class_logits` turns it into
a classifier (cosine logits), used for training accuracy and for ImageNet top-1.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from irnoise.config import Training
from irnoise.errors import UserError

# Attribute holding the class weights, and whether it is stored (embedding, classes).
WEIGHT_ATTRIBUTES = {"W": True, "weight": True, "fc": True, "proxies": False}


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


def class_weights(loss: nn.Module) -> torch.Tensor | None:
    """The loss's class weight matrix as (class centres, embedding_size), if it has one."""
    for attribute, transposed in WEIGHT_ATTRIBUTES.items():
        weights = getattr(loss, attribute, None)
        if isinstance(weights, torch.Tensor) and weights.dim() == 2:
            return weights.t() if transposed else weights
    return None


def has_class_head(loss: nn.Module) -> bool:
    return class_weights(loss) is not None


def centres_per_class(loss: nn.Module) -> int:
    return getattr(loss, "sub_centers", None) or getattr(loss, "centers_per_class", None) or 1


def class_logits(loss: nn.Module, embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each embedding to each class, (N, num_classes).

    Losses with several centres per class (SubCenterArcFace, SoftTriple) store them
    class-major; a class scores its best centre, as those losses do.
    """
    weights = class_weights(loss)
    if weights is None:
        raise UserError(
            f"loss {type(loss).__name__} has no class weight matrix, so it gives no classifier: "
            "use a classification-style loss (ArcFaceLoss, NormalizedSoftmaxLoss, CosFaceLoss, "
            "...) for the classification task"
        )
    embeddings = nn.functional.normalize(embeddings.float(), dim=1)
    weights = nn.functional.normalize(weights.float(), dim=1)
    cosine = embeddings @ weights.t()
    return cosine.view(len(cosine), -1, centres_per_class(loss)).amax(dim=2)


class ClassPredictions:
    """The class head's predictions for the batch the loss just saw, at no extra product.

    pytorch-metric-learning's classification losses compare the embeddings with their
    class weights through their `distance` module (a similarity for ArcFace, CosFace,
    Normalized Softmax, ProxyAnchor, ...); a forward hook keeps that (N, centres) matrix,
    whose argmax is the cosine classifier's. Without it (no hook, another shape), the
    predictions come from `class_logits`. Use as a context manager: the hook lives inside.
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
        weights = class_weights(self.loss)
        if scores is None or weights is None or scores.shape != (len(embeddings), len(weights)):
            return class_logits(self.loss, embeddings).argmax(dim=1)
        return scores.view(len(scores), -1, centres_per_class(self.loss)).amax(dim=2).argmax(dim=1)
