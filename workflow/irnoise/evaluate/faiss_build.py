"""Which build of faiss this environment has, and a check that there is only one.

faiss-cpu, faiss-gpu and faiss-gpu-cu12 all install the same `faiss` module directory. With
two of them installed, the files of the one installed last overwrite the other's, and
uninstalling either deletes files the other still lists: the `faiss` that imports is then
whichever wrote last (often faiss-cpu, reinstalled by `pip install -e .` because
pyproject.toml names it), silently searching on the CPU. So irnoise refuses to evaluate
with more than one installed and names the swap that leaves exactly one.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from irnoise.errors import UserError

# The whole swap, in this order: uninstall every build first, then install the GPU one
# (uninstalling after installing would delete the shared files). README "GPU nodes".
GPU_SWAP_COMMAND = (
    "pip uninstall -y faiss-cpu faiss-gpu faiss-gpu-cu12 && pip install 'faiss-gpu>=1.15'"
)
CPU_SWAP_COMMAND = "pip uninstall -y faiss-cpu faiss-gpu faiss-gpu-cu12 && pip install faiss-cpu"


def installed_distributions() -> list[str]:
    """The installed distributions that provide the `faiss` module (pip metadata)."""
    names = metadata.packages_distributions().get("faiss", [])
    return sorted({name.lower() for name in names})


def check_single_build() -> str:
    """The one distribution providing `faiss` ("unknown" without pip metadata, e.g. a
    source build), or a UserError when several are installed."""
    names = installed_distributions()
    if len(names) > 1:
        raise UserError(
            f"several builds of faiss are installed ({', '.join(names)}): they share one "
            "`faiss` module, so one overwrites the other's files. Keep exactly one: "
            f"`{GPU_SWAP_COMMAND}` on GPU nodes, or `{CPU_SWAP_COMMAND}`"
        )
    return names[0] if names else "unknown"


def build_info() -> dict[str, Any]:
    """What metrics.json records: distribution, version, GPU support, the search's device."""
    import faiss

    from irnoise.evaluate.knn import gpu_available

    distribution = check_single_build()
    return {
        "distribution": distribution,
        "version": faiss.__version__,
        "gpu_build": hasattr(faiss, "StandardGpuResources"),
        "device": "gpu" if gpu_available() else "cpu",
    }
