"""The masked least-squares scale and shift fit, in one place.

A relative model's output is only defined up to a scale and a shift, so three parts of the package fit
one map to another before comparing or combining them: the evaluation protocol (prediction onto the
ground truth's disparity), tiled inference (each tile onto the global prediction or the mosaic so far)
and the export checks (an exported file's map onto PyTorch's, through the evaluation protocol). They
all use `fit_scale_shift` here, so they agree on the arithmetic and on what a flat map gets. numpy
only: `inference` may import it without pulling in torch or `eval`.
"""

from __future__ import annotations

import numpy as np

# A source whose variance over the fitted pixels is at most FLAT_TOLERANCE·(1 + mean²) is flat: its
# spread is at float32 resolution (std ≤ 1e-6 of its magnitude, or 1e-6 absolute near zero).
FLAT_TOLERANCE = 1e-12


def fit_scale_shift(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, float]:
    """Least-squares (scale, shift) with scale·source + shift ≈ target over `mask` (all pixels if None),
    computed in float64 from centred moments.

    Flat rule: a source that is flat over the mask (see FLAT_TOLERANCE) gets scale 1 and the shift that
    matches the means. That puts the fitted values on the mask where any least-squares answer puts them
    (the target's mean), but keeps the answer stable instead of fitting a scale to rounding noise."""
    source = np.asarray(source)
    target = np.asarray(target)
    if mask is None:
        x, y = source.astype(np.float64).ravel(), target.astype(np.float64).ravel()
    else:
        mask = np.asarray(mask, bool)
        x, y = source[mask].astype(np.float64), target[mask].astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"fit_scale_shift: source gives {x.size} values and target {y.size}; they must match")
    if x.size == 0:
        raise ValueError("fit_scale_shift: no pixel to fit (empty source or mask)")
    mean_x, mean_y = x.mean(), y.mean()
    variance = np.mean((x - mean_x) ** 2)
    if variance <= FLAT_TOLERANCE * (1.0 + mean_x**2):
        return 1.0, float(mean_y - mean_x)
    scale = np.mean((x - mean_x) * (y - mean_y)) / variance
    return float(scale), float(mean_y - scale * mean_x)


__all__ = ["FLAT_TOLERANCE", "fit_scale_shift"]
