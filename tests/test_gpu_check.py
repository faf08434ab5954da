"""bench/gpu_check.py's CPU-sized self-test: every code path of the GPU check but CUDA's.

The check itself runs only where a GPU is; here its self-test must pass (exit 0) with
the values that can be checked without one: faiss's R@1 equals torch's brute-force
top-1 on the same embeddings, the smoke run's metrics with `gpus: 1` (CPU fallback)
equal the `gpus: 0` run's, and every row of the table is there.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)  # puts bench/ on sys.path for its gpu_* parts
    yield module
    del sys.modules["gpu_check"]


@pytest.fixture(scope="module")
def parts(gpu_check):
    """The check's parts, which gpu_check.py imports from beside itself."""
    import gpu_cli
    import gpu_compute
    import gpu_smoke

    return SimpleNamespace(smoke=gpu_smoke, compute=gpu_compute, cli=gpu_cli)


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def rows_of(path: Path) -> dict[tuple[str, str], dict]:
    report = json.loads(path.read_text())
    return {(row["check"], row["item"]): row for row in report["rows"]}


def test_self_test_of_train_loader_cli_knn(gpu_check, tmp_path, capsys):
    out = tmp_path / "check.json"
    argv = ["--self-test", "--only", "train,loader,cli,knn", "--out", str(out)]
    assert gpu_check.main(argv) == 0
    assert "--self-test: running the CPU-sized self-test" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["mode"] == "cpu self-test" and report["failed"] == 0
    rows = rows_of(out)
    for variant in ("eager", "compile (eager)"):
        for loop in ("bare PyTorch loop", "irnoise run_epoch"):
            assert rows["train", f"{loop}, {variant}"]["value"] > 0
    for workers in (1, 2):
        loader = rows["loader", f"{workers} workers, 32 px"]
        assert loader["value"] > 0 and loader["numbers"]["batches_per_worker"] == 8
    # `irnoise train` ran for real on the loader's shards, its rate from its history.csv.
    end_to_end = rows["cli", "irnoise train end to end / bare step, gpus: 1"]
    numbers = end_to_end["numbers"]
    assert numbers["images_per_s"] > 0 and numbers["bare_images_per_s"] > 0
    assert end_to_end["value"] == numbers["images_per_s"] / numbers["bare_images_per_s"]
    ddp = rows["cli", "irnoise train, gpus: 2 (DDP) / gpus: 1"]
    assert ddp["value"] == "skipped: needs 2 GPUs" and ddp["verdict"] == "0 here"
    faiss_value = rows["knn", "R@1 1,210 x 512, faiss CPU index"]["value"]
    torch_value = rows["knn", "R@1 1,210 x 512, torch matmul top-1 (cpu)"]["value"]
    assert 0.02 < faiss_value < 0.98  # mid-range: thousands of hits and misses compared
    assert faiss_value == torch_value


def test_without_cuda_it_says_so_and_exits_0(gpu_check, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--only", "knn", "--out", str(tmp_path / "check.json")]) == 0
    assert "CUDA is not available: running the CPU-sized self-test" in capsys.readouterr().out


def test_a_crashing_check_fails_the_run_but_not_the_others(gpu_check, parts, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(parts.compute, "faiss_r_at_1", broken)
    out = tmp_path / "check.json"
    assert gpu_check.main(["--self-test", "--only", "knn", "--out", str(out)]) == 1
    crashed = rows_of(out)["knn", "crashed"]
    assert crashed["verdict"] == "FAILED: RuntimeError: out of memory"


def test_unknown_check_is_refused(gpu_check, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--only", "smoke,tpu"])
    assert "unknown checks ['tpu']" in capsys.readouterr().err


def test_largest_difference_and_bottleneck(parts):
    cpu = {"a": {"metrics": {"R@1": 0.5, "MAP@R": None}}, "b": {"metrics": {"acc": 0.9}}}
    gpu = {"a": {"metrics": {"R@1": 0.42, "MAP@R": 0.1}}, "b": {"metrics": {"acc": 0.95}}}
    difference, where = parts.smoke.largest_difference(cpu, gpu)
    assert difference == pytest.approx(0.08) and where == "a R@1"
    assert parts.compute.bottleneck_verdict(900.0, 1000.0).endswith("the loader is the bottleneck")
    assert parts.compute.bottleneck_verdict(2000.0, 1000.0).startswith("2.00x")
    assert "not run" in parts.compute.bottleneck_verdict(2000.0, float("nan"))


def test_smoke_config_overrides_gpus_without_editing_the_preset(parts, tmp_path):
    import yaml

    preset = (REPO / "presets" / "smoke.yaml").read_text()
    config = yaml.safe_load(parts.smoke.smoke_config(1, tmp_path / "c.yaml").read_text())
    assert (REPO / "presets" / "smoke.yaml").read_text() == preset
    original = yaml.safe_load(preset)
    assert set(config["experiments"]) == set(original["experiments"])
    for name, experiment in config["experiments"].items():
        assert experiment == original["experiments"][name] | {"gpus": 1, "allow_cpu": False}


@pytest.mark.workflow
@pytest.mark.xdist_group("smoke")
def test_self_test_of_the_smoke_run(gpu_check, smoke_run, tmp_path):
    """Against the session's smoke run (gpus: 0), reused as the CPU reference."""
    out = tmp_path / "check.json"
    argv = ["--self-test", "--only", "smoke", "--smoke-reference", str(smoke_run)]
    assert gpu_check.main([*argv, "--out", str(out)]) == 0
    rows = rows_of(out)
    assert rows["smoke", "train jobs' device"]["value"] == "1/1 on cpu"
    assert rows["smoke", "evaluate jobs' device"]["value"] == "1/1 on cpu"
    assert rows["smoke", "evaluate jobs' faiss index"]["value"] == "cpu"
    # On the CPU, training is deterministic: gpus 1 (falling back to the CPU) == gpus 0.
    difference = rows["smoke", "largest |metric(gpus 1) - metric(gpus 0)|"]
    assert difference["value"] == 0.0
    assert difference["numbers"]["gpu"].keys() == {"sop/clean/0/seed0"}
    assert difference["numbers"]["cpu"].keys() == {"sop/clean/0/seed0"}
    assert (smoke_run / "results" / "runs" / "sop" / "clean").is_dir()  # copied, not moved


def test_a_failing_snakemake_run_is_reported_with_its_log(parts, tmp_path, capsys):
    log = tmp_path / "smoke.log"
    log.write_text("line\n" * 50 + "MissingInputException in rule train\n")
    assert parts.smoke.log_verdict(1, log) == "FAILED: Snakemake exit 1 (log tail on stderr)"
    assert "MissingInputException in rule train" in capsys.readouterr().err
    assert parts.smoke.log_verdict(0, log) == "ok"


def fake_loader_arrivals(workers: int, per_worker: int, start: float, period: float) -> list:
    """Arrival times of a DataLoader's batches, handed out in turn: each worker needs
    `start` seconds for its first batch (its process, imports, first shard) and `period`
    for each next one; worker j is j ms behind worker 0."""
    return [
        start + worker * 0.001 + batch * period
        for batch in range(per_worker)
        for worker in range(workers)
    ]


def first_batch_rate(arrivals: list, counts: list) -> float:
    """The accounting the check used before: every batch after the first, from the first."""
    return sum(counts[1:]) / (arrivals[-1] - arrivals[0])


@pytest.mark.parametrize("per_worker", [2, 9])
def test_the_loader_rate_leaves_the_workers_start_out(parts, per_worker):
    workers, batch, period = 15, 256, 1.0
    arrivals = fake_loader_arrivals(workers, per_worker, start=5.0, period=period)
    counts = [batch] * len(arrivals)
    steady = workers * batch / period  # each worker, a batch per period
    assert parts.compute.steady_rate(arrivals, counts, workers) == pytest.approx(steady)
    if per_worker == 2:  # the check's old sizes: the first wave counted at no time
        assert first_batch_rate(arrivals, counts) > 1.3 * steady


def test_the_loader_rate_needs_a_wave_after_the_warm_up(parts):
    arrivals = fake_loader_arrivals(4, 1, start=5.0, period=1.0)
    with pytest.raises(ValueError, match="needs a wave of 4 after the first 4"):
        parts.compute.steady_rate(arrivals, [8] * 4, 4)


def test_the_loader_shards_give_every_worker_its_counted_waves(parts):
    from gpu_common import GPU_SIZES, SELF_TEST_SIZES

    for sizes in (GPU_SIZES, SELF_TEST_SIZES):
        images = parts.compute.loader_images(sizes)
        for workers in sizes.loader_workers:
            per_worker = images // workers // sizes.loader_batch
            assert per_worker >= 1 + sizes.loader_waves >= 9


def test_the_end_to_end_rate_leaves_the_first_epoch_out(parts):
    history = [{"images_per_s": "100"}, {"images_per_s": "300"}, {"images_per_s": "500"}]
    assert parts.cli.steady_history_rate(history) == 400
    with pytest.raises(ValueError, match="two epochs"):
        parts.cli.steady_history_rate(history[:1])
