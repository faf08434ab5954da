"""bench/gpu_hours.py on the paper preset: its arithmetic against a count of our own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from irnoise.plan import EXTRA_TARGETS

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "presets" / "paper.yaml"


@pytest.fixture(scope="module")
def gpu_hours():
    spec = importlib.util.spec_from_file_location("gpu_hours", REPO / "bench" / "gpu_hours.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_hours"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_hours"]


def printed_rows(text: str) -> list[dict[str, str]]:
    """Every table row the script prints, as {column: cell}, the header's names as keys."""
    tables, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not cells[0].startswith("---"):
            tables.append(dict(zip(header, cells, strict=True)))
    return tables


def run(gpu_hours, capsys, *argv: str) -> tuple[dict[str, str], dict[str, str]]:
    """(the SOP row of the study's table, the SOP row of Table 3's)."""
    assert gpu_hours.main(["--config", str(PAPER), *argv]) == 0
    sop = [row for row in printed_rows(capsys.readouterr().out) if row["experiment"] == "sop"]
    assert len(sop) == 2
    return sop[0], sop[1]


def test_the_sop_experiment_by_hand(gpu_hours, capsys):
    preset = yaml.safe_load(PAPER.read_text())
    sop = preset["experiments"]["sop"]
    seeds, levels = len(preset["seeds"]), len(preset["noise"]["levels"])
    noisy = seeds * len(sop["schemes"]) * levels  # 3 x 3 x 3
    trainings = seeds + noisy  # the clean run once per seed, shared by the schemes
    epochs, train, test = 16, 59_551, 60_502  # the preset's epochs; SOP's train and test
    assert sop["epochs"] == epochs and sop["crop_size"] == 224
    rate, forward = 2470.0, 2470.0 * 3382 / 1200  # A100 mixed precision, stated
    training_hours = trainings * epochs * train / rate / 3600
    forward_hours = (noisy * train + trainings * test) / forward / 3600  # detection, evaluation

    study, methods = run(gpu_hours, capsys)
    assert study["trainings"] == "30" == str(trainings)
    assert study["forward passes + evaluations"] == f"{noisy} + {trainings}"
    assert study["training GPU-h"] == f"{training_hours:.1f}"
    assert study["total GPU-h"] == f"{training_hours + forward_hours:.1f}"

    # Table 3: every robust method on every noisy run, sub-center's first stage once more;
    # Smooth Proxy-Anchor's confidences one pass over the train split.
    robust = [method for method in sop["methods"] if method != "none"]
    method_runs = len(robust) * noisy
    assert methods["method trainings"] == str(method_runs + noisy) == "270"
    assert methods["forward passes + evaluations"] == f"{noisy} + {method_runs}"
    hours = (method_runs + noisy) * epochs * train / rate / 3600
    hours += (noisy * train + method_runs * test) / forward / 3600
    assert methods["total GPU-h"] == f"{hours:.1f}"


def test_a_measured_rate_replaces_the_stated_one(gpu_hours, capsys):
    stated, _ = run(gpu_hours, capsys)
    measured, _ = run(gpu_hours, capsys, "--rate", "resnet50=4940")
    assert measured["img/s"] == "4,940"
    assert float(measured["training GPU-h"]) == pytest.approx(
        float(stated["training GPU-h"]) / 2, abs=0.06
    )
    sop_only, _ = run(gpu_hours, capsys, "--rate", "sop=1000")
    assert sop_only["img/s"] == "1,000"


def test_faces_scale_the_rate_to_their_crop(gpu_hours, capsys):
    assert gpu_hours.main(["--config", str(PAPER)]) == 0
    rows = {row["experiment"]: row for row in printed_rows(capsys.readouterr().out)}
    assert rows["faces"]["img/s"] == f"{2470 * 4:,}"  # 112 px: a quarter of the pixels


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "resnet50"], "--rate resnet50: expected NAME=IMAGES_PER_S"),
        (["--rate", "resnet50=0"], "images per second must be positive"),
    ],
)
def test_bad_rates_are_one_clear_line(gpu_hours, capsys, argv, message):
    assert gpu_hours.main(["--config", str(PAPER), *argv]) == 1
    assert message in capsys.readouterr().err


def test_a_backbone_without_a_figure_asks_for_one(gpu_hours, tmp_path, capsys):
    preset = yaml.safe_load(PAPER.read_text())
    preset["experiments"]["sop"]["backbone"] = "resnet18"
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump(preset))
    assert gpu_hours.main(["--config", str(config)]) == 1
    assert "pass a measured one, --rate resnet18=IMAGES_PER_S" in capsys.readouterr().err


def test_the_detection_table_is_an_extra_target(gpu_hours):
    assert gpu_hours.DETECTION_TABLE in EXTRA_TARGETS
