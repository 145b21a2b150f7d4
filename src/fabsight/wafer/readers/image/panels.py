"""Step 2 of reading a picture: the boxes of the map panels in it, in reading order."""

from __future__ import annotations

import numpy as np

PANEL_SHARE = 0.3  # panels smaller than this share of the largest are not maps (legends, colour bars)
BRIDGE = 2  # map pixels this close belong to one panel (bridges grid lines)


def _components(mask: np.ndarray, joined: np.ndarray) -> tuple[list[tuple[slice, slice]], float]:
    """Boxes of the `mask` pixels of each connected part of `joined` big enough to be a map (30% of
    the largest), and the share of all mask pixels they hold."""
    from scipy import ndimage  # imported here: 0.5 s, which commands that never get here should not pay

    components, count = ndimage.label(joined, structure=np.ones((3, 3)))
    if count == 0:
        return [], 0.0
    own = np.where(mask, components, 0)
    sizes = np.bincount(own.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = np.flatnonzero(sizes >= max(PANEL_SHARE * sizes.max(), 16))
    boxes = ndimage.find_objects(own)
    chosen = [boxes[i - 1] for i in keep if boxes[i - 1] is not None]
    return chosen, float(sizes[keep].sum() / max(sizes.sum(), 1))


def panels(mask: np.ndarray, drawn: np.ndarray) -> list[tuple[slice, slice]]:
    """Bounding boxes of the map panels, in reading order.

    `mask`: map pixels; `drawn`: everything not background. Panels are the
    parts of the drawing (grid lines join dies, background gaps part panels);
    when that breaks a map into pieces (dies parted by background-coloured
    gaps), map pixels within 2 * BRIDGE of each other form a panel instead.
    """
    from scipy import ndimage  # imported here: 0.5 s, which commands that never get here should not pay

    chosen, held = _components(mask, drawn)
    if held < 0.8:
        chosen, _ = _components(mask, ndimage.maximum_filter(mask.view(np.uint8), size=2 * BRIDGE + 1) > 0)
    if len(chosen) > 1:
        height = float(np.median([b[0].stop - b[0].start for b in chosen]))
        chosen.sort(key=lambda b: (round((b[0].start + b[0].stop) / 2 / max(height, 1)), b[1].start))
    return chosen


def grow(box: tuple[slice, slice], dies: np.ndarray, steps: int = 3) -> tuple[slice, slice]:
    """The box grown, a pixel at a time, over rows and columns next to it that hold die colours."""
    (y0, y1), (x0, x1) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
    for _ in range(steps):
        if y0 > 0 and dies[y0 - 1, x0:x1].any():
            y0 -= 1
        if y1 < dies.shape[0] and dies[y1, x0:x1].any():
            y1 += 1
        if x0 > 0 and dies[y0:y1, x0 - 1].any():
            x0 -= 1
        if x1 < dies.shape[1] and dies[y0:y1, x1].any():
            x1 += 1
    return slice(y0, y1), slice(x0, x1)
