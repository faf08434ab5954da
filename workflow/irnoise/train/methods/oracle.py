"""The oracle: train only on the samples whose label the noise did not change.

No filter can do better at telling noisy from clean samples, so its R@1 bounds what
any sample-selection method can recover. It is the only method that reads the clean
labels: `irnoise train --method '{"name": "oracle"}'` builds its keep-mask from them.

Its control (`random_subset`) tests whether the oracle's shortfall from the clean model
is data loss: it trains on the clean labels of as many rows as the oracle keeps, drawn
uniformly at random (seeded by the run's seed). If the control falls as short as the
oracle, losing the rows explains the shortfall; if it does better, the rows the noise
picked (whole classes, under class noise) matter more than their number.
"""

from __future__ import annotations

import numpy as np


def oracle_keep(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """True for every row whose trained-on label equals its clean label."""
    noisy, clean = np.asarray(noisy), np.asarray(clean)
    if noisy.shape != clean.shape:
        raise ValueError(f"noisy and clean labels differ in shape: {noisy.shape} != {clean.shape}")
    return noisy == clean


def random_subset_keep(noisy: np.ndarray, clean: np.ndarray, seed: int) -> np.ndarray:
    """As many rows as `oracle_keep` keeps, drawn uniformly at random without replacement."""
    kept = int(oracle_keep(noisy, clean).sum())
    keep = np.zeros(len(clean), dtype=bool)
    keep[np.random.default_rng(seed).choice(len(clean), size=kept, replace=False)] = True
    return keep
