"""Which faiss build is installed: one distribution only, recorded in metrics.json.

The installed distributions come from importlib.metadata, mocked here to stand for the
environments that matter: faiss-cpu alone, a GPU build alone, a GPU build with faiss-cpu
brought back by `pip install -e .`, and a source build without pip metadata.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import faiss
import pytest

from irnoise import cli
from irnoise.errors import UserError
from irnoise.evaluate import faiss_build

README = Path(__file__).resolve().parents[1] / "README.md"


def fake_metadata(monkeypatch, mapping: dict[str, list[str]]) -> None:
    monkeypatch.setattr(metadata, "packages_distributions", lambda: mapping)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"faiss": ["faiss-cpu"], "numpy": ["numpy"]}, "faiss-cpu"),
        ({"faiss": ["faiss_gpu"]}, "faiss_gpu"),
        # A RECORD listing the module's files twice names the distribution twice.
        ({"faiss": ["faiss-gpu-cu12", "faiss-gpu-cu12"]}, "faiss-gpu-cu12"),
        ({"numpy": ["numpy"]}, "unknown"),
    ],
)
def test_one_build(monkeypatch, mapping, expected):
    fake_metadata(monkeypatch, mapping)
    assert faiss_build.check_single_build() == expected


def test_two_builds_are_refused_with_the_swap_command(monkeypatch):
    fake_metadata(monkeypatch, {"faiss": ["faiss-gpu", "faiss-cpu"]})
    with pytest.raises(UserError) as error:
        faiss_build.check_single_build()
    message = str(error.value)
    assert "several builds of faiss are installed (faiss-cpu, faiss-gpu)" in message
    assert faiss_build.GPU_SWAP_COMMAND in message


def test_swap_uninstalls_every_build_before_installing_one():
    uninstall, install = faiss_build.GPU_SWAP_COMMAND.split(" && ")
    assert uninstall.split()[:3] == ["pip", "uninstall", "-y"]
    assert {"faiss-cpu", "faiss-gpu", "faiss-gpu-cu12"} <= set(uninstall.split())
    assert install.startswith("pip install ") and "faiss-gpu" in install


def test_readme_documents_the_same_swaps():
    readme = README.read_text()
    assert faiss_build.GPU_SWAP_COMMAND in readme and faiss_build.CPU_SWAP_COMMAND in readme


def test_build_info_of_this_environment():
    info = faiss_build.build_info()
    assert info["distribution"] in [*faiss_build.installed_distributions(), "unknown"]
    assert info["version"] == faiss.__version__
    assert info["gpu_build"] == hasattr(faiss, "StandardGpuResources")
    if not info["gpu_build"]:
        assert info["device"] == "cpu"


def test_evaluate_refuses_two_builds_before_any_work(monkeypatch, tmp_path, capsys):
    fake_metadata(monkeypatch, {"faiss": ["faiss-cpu", "faiss-gpu-cu12"]})
    out = tmp_path / "metrics.json"
    shards = tmp_path / "shards"
    shards.mkdir()
    argv = ["evaluate", "--model", str(tmp_path / "none.pt"), "--shards", str(shards)]
    argv += ["--task", "retrieval", "--config", '{"crop_size": 8, "eval_batch_size": 2}']
    assert cli.main([*argv, "--run", "{}", "--out", str(out)]) == 2
    assert "several builds of faiss" in capsys.readouterr().err
    assert not out.exists()
