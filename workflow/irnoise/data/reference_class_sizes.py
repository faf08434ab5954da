"""Class-size histograms of the real retrieval datasets, read from the package's data file.

`reference_class_sizes.json` (shipped with the package) maps each histogram's name to
{class size: number of classes of that size}. They were computed once from the public
annotation files (SOP `Ebay_*.txt`, In-Shop `list_eval_partition.txt`, LFW
`lfw-names.txt`, CUB `image_class_labels.txt` with classes 1-100 train, Cars196
annotations with classes 1-98 train). They shape the synthetic datasets and give Table 2
and Figure 1 their reference rows at the real datasets' scale, without the datasets.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

DATA_FILE = "reference_class_sizes.json"


def _load() -> dict[str, dict[int, int]]:
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return {
        name: {int(size): int(count) for size, count in histogram.items()}
        for name, histogram in json.loads(text).items()
    }


REFERENCE_HISTOGRAMS: dict[str, dict[int, int]] = _load()


def class_sizes(name: str) -> np.ndarray:
    """The sizes of every class of a reference histogram, largest first."""
    histogram = REFERENCE_HISTOGRAMS[name]
    sizes = np.repeat(list(histogram), list(histogram.values()))
    return np.sort(sizes)[::-1]


def labels_from_histogram(name: str) -> np.ndarray:
    """A label array (class ids 0..K-1, grouped) with the histogram's class sizes."""
    sizes = class_sizes(name)
    return np.repeat(np.arange(len(sizes)), sizes)
