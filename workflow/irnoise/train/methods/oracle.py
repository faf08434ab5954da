"""The oracle: train only on the samples whose label the noise did not change.

No filter can do better at telling noisy from clean samples, so its R@1 bounds what
any sample-selection method can recover. It is the only method that reads the clean
labels: `irnoise train --method '{"name": "oracle"}'` builds its keep-mask from them.
"""

from __future__ import annotations

import numpy as np


def oracle_keep(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """True for every row whose trained-on label equals its clean label."""
    noisy, clean = np.asarray(noisy), np.asarray(clean)
    if noisy.shape != clean.shape:
        raise ValueError(f"noisy and clean labels differ in shape: {noisy.shape} != {clean.shape}")
    return noisy == clean
