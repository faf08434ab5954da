"""Class-size histograms of the real retrieval datasets, embedded as counts.

Each histogram maps a class size (images per class) to the number of classes of that
size. They were computed once from the public annotation files (SOP `Ebay_*.txt`,
In-Shop `list_eval_partition.txt`, LFW `lfw-names.txt`, CUB `image_class_labels.txt`
with classes 1-100 train, Cars196 annotations with classes 1-98 train). They shape the
synthetic datasets and give Table 2 its reference rows at the real datasets' scale.
"""

from __future__ import annotations

import numpy as np

REFERENCE_HISTOGRAMS: dict[str, dict[int, int]] = {
    "sop_train": {2: 2138, 3: 1881, 4: 1767, 5: 1299, 6: 1051, 7: 737, 8: 565, 9: 480, 10: 373, 11: 290, 12: 737},
    "sop_test": {2: 2140, 3: 1872, 4: 1646, 5: 1227, 6: 1043, 7: 797, 8: 601, 9: 502, 10: 405, 11: 322, 12: 761},
    "inshop_train": {1: 12, 2: 10, 3: 416, 4: 1575, 5: 671, 6: 126, 7: 139, 8: 367, 9: 138, 10: 93, 11: 42, 12: 116, 13: 29, 14: 36, 15: 45, 16: 55, 17: 15, 18: 10, 19: 16, 20: 15, 21: 1, 22: 4, 23: 5, 24: 11, 25: 4, 27: 5, 28: 3, 29: 1, 30: 5, 31: 3, 32: 2, 34: 1, 35: 2, 38: 1, 39: 1, 40: 2, 42: 1, 45: 2, 46: 3, 47: 1, 49: 1, 55: 3, 56: 1, 62: 1, 73: 1, 79: 1, 89: 1, 102: 1, 111: 1, 112: 1, 162: 1},
    "inshop_query": {1: 13, 2: 1915, 3: 804, 4: 515, 5: 240, 6: 167, 7: 71, 8: 101, 9: 36, 10: 32, 11: 10, 12: 17, 13: 12, 14: 6, 15: 3, 16: 5, 17: 8, 18: 5, 20: 3, 21: 2, 22: 1, 23: 1, 24: 2, 25: 2, 26: 1, 31: 1, 33: 1, 36: 1, 37: 2, 38: 2, 39: 1, 45: 1, 51: 1, 61: 1, 64: 1, 66: 1},
    "inshop_gallery": {1: 433, 2: 2189, 3: 238, 4: 520, 5: 167, 6: 151, 7: 80, 8: 69, 9: 23, 10: 30, 11: 10, 12: 17, 13: 9, 14: 3, 15: 5, 16: 7, 17: 8, 18: 1, 19: 2, 20: 2, 21: 2, 23: 2, 24: 2, 25: 2, 30: 1, 33: 1, 36: 2, 37: 2, 38: 2, 44: 1, 51: 1, 60: 1, 64: 1, 65: 1},
    "inshop_test": {2: 13, 3: 420, 4: 1495, 5: 694, 6: 110, 7: 128, 8: 387, 9: 133, 10: 107, 11: 60, 12: 107, 13: 44, 14: 27, 15: 53, 16: 48, 17: 21, 18: 15, 19: 8, 20: 24, 21: 6, 22: 4, 23: 6, 24: 11, 25: 6, 26: 6, 27: 3, 28: 3, 30: 3, 31: 2, 32: 3, 33: 4, 34: 4, 35: 4, 36: 1, 39: 2, 40: 1, 41: 1, 42: 1, 43: 1, 46: 1, 47: 1, 48: 1, 49: 1, 50: 1, 51: 1, 61: 1, 66: 1, 72: 1, 73: 1, 74: 1, 75: 1, 76: 1, 77: 1, 89: 1, 102: 1, 121: 1, 128: 1, 131: 1},
    "lfw": {1: 4069, 2: 779, 3: 291, 4: 187, 5: 112, 6: 55, 7: 39, 8: 33, 9: 26, 10: 15, 11: 16, 12: 10, 13: 11, 14: 10, 15: 11, 16: 3, 17: 8, 18: 5, 19: 7, 20: 5, 21: 4, 22: 5, 23: 3, 24: 3, 25: 1, 26: 2, 27: 1, 28: 2, 29: 2, 30: 2, 31: 2, 32: 3, 33: 3, 35: 1, 36: 1, 37: 1, 39: 2, 41: 2, 42: 2, 44: 1, 48: 1, 49: 1, 52: 2, 53: 1, 55: 1, 60: 1, 71: 1, 77: 1, 109: 1, 121: 1, 144: 1, 236: 1, 530: 1},
    "cub_train": {41: 1, 44: 1, 45: 1, 48: 1, 50: 1, 52: 1, 53: 3, 56: 2, 57: 2, 58: 4, 59: 13, 60: 70},
    "cub_test": {49: 1, 50: 3, 51: 1, 56: 1, 58: 2, 59: 18, 60: 74},
    "cars_train": {59: 1, 64: 1, 65: 1, 66: 1, 68: 1, 69: 1, 70: 2, 71: 2, 73: 3, 74: 1, 75: 3, 76: 2, 77: 3, 78: 3, 79: 4, 80: 3, 81: 6, 82: 8, 83: 3, 84: 6, 85: 7, 86: 5, 87: 6, 88: 6, 89: 7, 90: 6, 91: 1, 92: 3, 93: 1, 97: 1},
    "cars_test": {48: 1, 55: 1, 58: 1, 61: 1, 65: 1, 67: 2, 68: 1, 71: 1, 72: 2, 73: 2, 75: 1, 76: 1, 77: 5, 78: 4, 79: 2, 80: 3, 81: 2, 82: 4, 83: 4, 84: 9, 85: 10, 86: 4, 87: 9, 88: 6, 89: 7, 90: 4, 91: 3, 92: 3, 93: 1, 95: 1, 96: 1, 136: 1},
}


def class_sizes(name: str) -> np.ndarray:
    """The sizes of every class of a reference histogram, largest first."""
    histogram = REFERENCE_HISTOGRAMS[name]
    sizes = np.repeat(list(histogram), list(histogram.values()))
    return np.sort(sizes)[::-1]


def labels_from_histogram(name: str) -> np.ndarray:
    """A label array (class ids 0..K-1, grouped) with the histogram's class sizes."""
    sizes = class_sizes(name)
    return np.repeat(np.arange(len(sizes)), sizes)
