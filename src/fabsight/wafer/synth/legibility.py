"""Is a drawn pattern legible? A label must name what an engineer could see on the map.

A pattern's fail odds are drawn before the background fails, so a small or
faint cluster can end up lost among them: the map says `none` while the
truth says `Loc`. Trained on such pairs a model learns label noise (the
wafer-clip misses on held-out synthetic maps were mostly these). The
generator redraws a wafer until each of its patterns stands out; this
module says what "stands out" means, measured on the final failing dies.
"""

from __future__ import annotations

import numpy as np

from fabsight.wafer.synth.patterns import Layer
from fabsight.wafer.synth.shapes import Geometry

MIN_EXCESS_DIES = 6.0  # fails beyond what the surroundings' density explains; background runs are up to 4 dies
MIN_CONTRAST = 0.3  # fail share inside the pattern minus the share just around it
SURROUNDINGS_DIES = 3  # how far around the pattern its surroundings reach
WHOLE_WAFER = ("Near-full", "Random")  # their footprint is the wafer: nothing around them to stand out from
# A Loc may reach the rim (half of the real WM-811K Loc maps' largest clusters do) but not lie along it: at most this
# share of its dies on the outermost ring. Real Loc clusters: 90th percentile 0.18; real Edge-Loc: 10th percentile 0.17.
LOC_MAX_RIM_SHARE = 0.15


def pattern_contrast(geo: Geometry, layer: Layer, failing: np.ndarray, others: np.ndarray) -> tuple[float, float]:
    """(contrast, excess dies) of one pattern against the dies around it that belong to no pattern (`others`)."""
    from scipy import ndimage  # imported here: 0.5 s, which commands that never get here should not pay

    footprint = layer.footprint
    dies = int(np.count_nonzero(footprint))
    if dies == 0:
        return 0.0, 0.0
    around = ndimage.binary_dilation(footprint, iterations=SURROUNDINGS_DIES) & ~footprint & ~others & geo.on
    inside = float(failing[footprint].mean())
    outside = float(failing[around].mean()) if around.any() else 0.0
    return inside - outside, (inside - outside) * dies


def rim_share(geo: Geometry, footprint: np.ndarray) -> float:
    """Share of a footprint's dies on the outermost ring of the wafer."""
    dies = int(np.count_nonzero(footprint))
    return float(np.count_nonzero(footprint & (geo.depth == 0))) / dies if dies else 0.0


def legibility(geo: Geometry, layers: list[Layer], failing: np.ndarray) -> float:
    """How far the least visible pattern clears the bar: 1 or more legible, below 1 not (inf with no patterns)."""
    score = float("inf")
    for i, layer in enumerate(layers):
        if layer.name in WHOLE_WAFER:
            continue
        others = np.zeros(geo.shape, dtype=bool)
        for j, other in enumerate(layers):
            if j != i:
                others |= other.footprint
        contrast, excess = pattern_contrast(geo, layer, failing, others)
        score = min(score, contrast / MIN_CONTRAST, excess / MIN_EXCESS_DIES)
        if layer.name == "Loc" and rim_share(geo, layer.footprint) > LOC_MAX_RIM_SHARE:
            score = min(score, 0.0)  # a cluster lying along the rim is an Edge-Loc to anyone labelling it
    return score
