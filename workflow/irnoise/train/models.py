"""Embedding networks: a torchvision or small CPU backbone followed by a linear embedding.

`build_model(config)` makes the network a `Training` config names; `load_trained(path, device)`
rebuilds a trained one (and its loss, whose class weights the classification metrics
need) from a `model.pt` written by `irnoise train`. Nothing is ever downloaded:
pretrained weights come from a local state-dict file named by `config.pretrained`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from irnoise.config import Training
from irnoise.errors import UserError

BACKBONES = ("resnet50", "resnet18", "small_cnn")


class EmbeddingNet(nn.Module):
    """backbone(images) -> pooled features -> linear -> embeddings (not normalized)."""

    def __init__(self, backbone: nn.Module, features: int, embedding_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.embedding = nn.Linear(features, embedding_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.backbone(images))


def conv_bn_relu(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


def small_cnn(width: int = 32) -> tuple[nn.Module, int]:
    """A VGG-like network sized for 32-64 px synthetic images on a CPU.

    Channels (`width` in the first stage) double as the resolution halves, so every stage
    costs about the same; the stride-2 stem makes it about 3x faster than a stride-1 one
    at 40 px, and global average pooling makes it accept any crop size.
    """
    widths = (width, 2 * width, 4 * width, 8 * width)
    layers = [conv_bn_relu(3, widths[0], stride=2)]
    for inputs, outputs in itertools.pairwise(widths):
        layers += [conv_bn_relu(inputs, outputs, stride=2), conv_bn_relu(outputs, outputs, 1)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), widths[-1]


def torchvision_resnet(name: str) -> tuple[nn.Module, int]:
    import torchvision

    # weights=None: never a download; pretrained weights come from a local file.
    network = getattr(torchvision.models, name)(weights=None)
    features = network.fc.in_features
    network.fc = nn.Identity()
    return network, features


def backbone_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The backbone's weights of a state dict: a torchvision network's (its classifier
    `fc.*` left out, a DDP `module.` prefix removed) or a `model.pt` of `irnoise train`'s
    (a pretraining's: its `backbone.*` weights; its embedding layer starts afresh)."""
    if "config" in state and "state_dict" in state:
        prefix = "backbone."
        weights = state["state_dict"]
        return {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}
    state = state.get("state_dict", state)
    return {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}


def load_pretrained(backbone: nn.Module, path: str) -> None:
    """Load a local state dict (or a pretraining's model.pt) into the backbone."""
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"pretrained weights file {path} not found: put the backbone's state dict there "
            "(torch.save(model.state_dict(), path), e.g. torchvision's ImageNet weights), "
            "or set the experiment's pretrained to null to train from random initialization"
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(
            f"pretrained weights file {path} is not a readable state dict: {error}"
        ) from error
    result = backbone.load_state_dict(backbone_state(state), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise UserError(
            f"pretrained weights file {path} does not fit the backbone: missing "
            f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}; "
            "give a state dict of the same torchvision architecture as `backbone`"
        )


def build_model(config: Training | Mapping[str, Any]) -> EmbeddingNet:
    """The network `config` names: backbone, optional pretrained file, embedding_size."""
    if not isinstance(config, Training):
        config = Training.from_mapping(config)
    if config.backbone == "small_cnn":
        backbone, features = small_cnn(config.width)
    elif config.backbone in BACKBONES:
        backbone, features = torchvision_resnet(config.backbone)
    else:
        raise UserError(
            f"unknown backbone {config.backbone!r}: choose one of {', '.join(BACKBONES)}"
        )
    if config.pretrained:
        load_pretrained(backbone, config.pretrained)
    return EmbeddingNet(backbone, features, config.embedding_size)


MODEL_KEYS = ("state_dict", "loss_state_dict", "config", "num_classes")


def load_trained(
    path: str | Path, device: str | torch.device = "cpu", with_loss: bool = True
) -> tuple[EmbeddingNet, nn.Module | None, dict[str, Any]]:
    """(model, loss, payload) from a `model.pt`, both modules in eval mode on `device`;
    the loss is None without `with_loss` (building it imports pytorch-metric-learning,
    ~0.7 s of CPU that an evaluation without a class head need not pay).

    Read with weights_only=True (state dicts and plain metadata): a crafted file cannot run
    code; a malformed one is a UserError naming it.
    """
    from irnoise.train import state_files
    from irnoise.train.losses import build_loss

    if not Path(path).is_file():
        raise UserError(f"model file {path} not found: run `irnoise train` for this run first")
    remedy = "give a model.pt written by `irnoise train`, or delete it and retrain the run"
    payload = state_files.load(path, "model file", remedy)
    if missing := [key for key in MODEL_KEYS if key not in payload]:
        raise UserError(f"model file {path} lacks {', '.join(missing)}: {remedy}")
    try:
        # The weights come from the file; a pretrained file named in the config is not needed.
        config = Training.from_mapping(payload["config"], f"model file {path}: config")
        config = dataclasses.replace(config, pretrained=None)
        model = build_model(config)
        model.load_state_dict(payload["state_dict"])
        loss = None
        if with_loss:
            loss = build_loss(config, payload["num_classes"]).to(device).eval()
            loss.load_state_dict(payload["loss_state_dict"])
    except (RuntimeError, TypeError, ValueError, AttributeError) as error:
        reason = str(error).splitlines()[0]
        raise UserError(
            f"model file {path} does not fit its config ({reason}): {remedy}"
        ) from error
    return model.to(device).eval(), loss, payload
