"""The study's own numbers, which the findings set beside ours: its datasets, Table 1 and
Figure 3 ("Deep Image Retrieval is not Robust to Label Noise", Dereka et al., 2022)."""

from __future__ import annotations

import math

from irnoise.plan import CLASSIFICATION, LARGE, RETRIEVAL, SMALL, UNIFORM, VERIFICATION

# The paper's datasets, matched to experiments by name, and the task of each.
PAPER_NAMES = {"sop": "SOP", "inshop": "In-Shop", "faces": "LFW", "imagenet": "ImageNet"}

PAPER_TASKS = {
    "sop": RETRIEVAL,
    "inshop": RETRIEVAL,
    "faces": VERIFICATION,
    "imagenet": CLASSIFICATION,
}

# The study's Table 1 (%): clean, then 1%, 5%, 10% uniform noise (~0 written as 0).
PAPER_LEVELS = (0.01, 0.05, 0.1)

PAPER_TABLE1 = {
    "imagenet": (67.32, 67.09, 66.42, 65.80),
    "inshop": (84.61, 82.09, 74.70, 72.70),
    "sop": (63.49, 63.68, 60.72, 58.78),
    "faces": (99.27, 99.23, 0.0, 0.0),  # TPR@FPR=1e-3 on LFW
}

# The paper's Figure 3, In-Shop at 5%: relative drop (%) per scheme.
PAPER_FIGURE3 = {("inshop", 0.05): {UNIFORM: 10.0, SMALL: 4.5, LARGE: 2.0}}


def paper_drop(experiment: str, level: float) -> float:
    """The paper's relative drop (%) of an experiment at a level of its Table 1, or NaN."""
    if experiment not in PAPER_TABLE1 or level not in PAPER_LEVELS:
        return math.nan
    values = PAPER_TABLE1[experiment]
    clean, noisy = values[0], values[1 + PAPER_LEVELS.index(level)]
    return 100 * (clean - noisy) / clean
