"""Pictures of wafer maps (PNG, JPEG, GIF, WebP, TIFF, BMP) → the die grid, recovered from the pixels.

Works on fabsight's own pictures (`fabsight.wafer.render`, recovered exactly)
and on the usual exports of other tools: die plots (green / red / white,
with or without grid lines) and colour-mapped arrays (matplotlib `imshow`
or `imsave` of a WM-811K array). A picture holding several maps side by
side (a figure of examples) gives one map per panel, in reading order.

How (all vectorised numpy / scipy):

1. **Colours.** The picture's colours are grouped (pixels within about 48
   RGB levels of a frequent colour join it). The **background** is the
   colour of three or four of the picture's corners, else the commonest
   colour on its border; thin colours (a frame, grid lines that run to
   the picture's edges) are passed over while another colour is there.
2. **Wafer region.** Colours that fill areas (most of their pixels lie in
   2 x 2 blocks of one colour) are map colours; thin ones (text, axes, grid
   lines) are not. The drawing (all but the background) falls into
   connected parts; every part holding at least 30% as many map pixels as
   the largest is a map, boxed round its map pixels that lie in such blocks
   (so axis lines and tick marks stay out). Where that breaks one map into
   pieces (dies parted by background-coloured gaps), map pixels within 4
   pixels of each other form a map instead.
3. **Die pitch.** Along each axis, the positions where the colour changes
   are collected (blurred or ringing pixels between two map colours are
   skipped, the change put at the middle of the gap; positions with only a
   pixel or two of change are noise). Candidate pitches are the peaks of
   their Fourier spectrum, each refined by a least-squares fit of the
   positions to boundaries `phase + k * pitch` (so pitches like 2.4 pixels
   work). The pitch taken is the one least likely to explain that many
   positions (within 0.6 pixel) by chance: a fraction of the true pitch
   explains them as well but is likelier by chance, a multiple explains
   only some. When an axis has too few changes to be sure (odds worse than
   one in a million), the pitch that makes dies squarest is taken; when
   nothing is periodic, one pixel per die (`imsave` of an array).
4. **Dies.** The centre of each cell (its middle half, at most 9 x 9
   pixels, away from grid lines) votes for a colour; the colour with most
   votes wins the die.
5. **Which colour is what.** A die colour is one that wins at least one
   cell (so grid lines and edge blur never do). *Off-wafer* is the
   background colour when its dies lie round the outside of the grid (a
   die plot); else a colour that holds all four corners and lies round the
   outside (a colour-mapped array, whose off-wafer value has its own
   colour; never a green or a bright red); else the background if it wins
   any die; else,
   with three or more colours, the commonest on the grid's border. Of the
   two remaining colours, *fail* is:
   - in a die plot (off-wafer = background): the redder one (HSV saturation
     x cos(hue)), or if neither is clearly redder, the one further in
     lightness from the background (darker on white);
   - in a colour-mapped array: the red one of a red and a green (jet,
     rainbow), else the one further in lightness from the off-wafer colour
     (sequential colour maps such as viridis, magma, cividis put the
     largest value, 2 = fail, furthest from 0), or the redder one when the
     two are equally far.
   A single die colour is fail if it is clearly red or yellow (redness >=
   0.35), else pass. More than two die colours (a bin map): the greenest is
   pass and all others fail, with a `FabsightWarning`; a third colour or
   more counts only if it clearly holds 3 dies or more (else its cells go
   to the nearest colour: JPEG noise can win a stray cell).

The map comes back upright as drawn (default `Orientation`), cropped to the
wafer's on-wafer dies in a die plot (the picture cannot show off-wafer
margins) and whole in a colour-mapped array. `extra` records
`recovered_from: "picture"`, the pitch in pixels, the colours read as
off / pass / fail and, for a picture of several maps, the panel. Lot,
wafer and product come from the PNG text chunk that fabsight writes.

Measured (benchmarks/picture_recovery.py, 200 maps per style): exact on
fabsight's PNGs of random wafers 5..200 dies across; 96.5..100% of real
WM-811K maps exact from matplotlib `imshow` (viridis, magma, jet, gray,
with a colour bar, also as JPEG), die plots with or without grid lines
(also as JPEG) and `imsave`; 64 of the 72 panels of the shared examples.png
(about 2.4 pixels per die).

Limits: pictures over `MAX_PIXELS` are refused before decoding. Dies must
be at least about 2 pixels apart, or exactly 1 (unscaled). JPEG is read
well from about 6 pixels per die; below that, chroma blur mixes pass and
fail, and the picture is refused or read with a warning about extra
colours (fabsight's own renders as JPEG: 44% exact, mostly the maps drawn
at 3..5 pixels per die). Also not read reliably: smoothing (matplotlib's
antialiasing when an array is shown at under 3 screen pixels per die:
refused), colour maps with a colour equal to the figure background (e.g.
`gray`, where fail is white: fail dies at the wafer's edge look like
background), plots whose pass colour is the background (white pass dies on
white), a single uniform block of one colour with no grid lines (no die
boundary to see: refused), and maps with too few colour changes to fix the
pitch (then square dies are assumed).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import binom

from fabsight.errors import FabsightWarning, InputError
from fabsight.wafer.map import FAIL, OFF, PASS, WaferMap

if TYPE_CHECKING:
    from PIL import Image

    from fabsight.wafer.readers import LoadOptions

MAX_PIXELS = 30_000_000  # refused above this, before decoding (about 10 s and 1.2 GB to read one that big)
MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
UNKNOWN = 255  # label of pixels far from every grouped colour
MAX_COLOURS = 40
JOIN_RADIUS, ASSIGN_RADIUS = 48.0, 72.0  # RGB distances: grouping colours, assigning pixels to groups
BLOB_SHARE = 0.3  # share of a colour's pixels in same-colour 2 x 2 blocks for it to count as area
PANEL_SHARE = 0.3  # panels smaller than this share of the largest are not maps (legends, colour bars)
BRIDGE = 2  # map pixels this close belong to one panel (bridges grid lines)
MIN_COHERENCE = 0.2  # Fourier peak height (share of all colour changes) for a candidate pitch
RMS_SLACK = 0.1
MAX_SURPRISE = math.log(1e-6)
LIKELY_FIT = 0.9
MIN_PITCH, SAMPLES = 1.8, 9
MAX_UNSCALED_SIDE = 1500  # one pixel per die is only considered up to this many pixels across
RED_ENOUGH = 0.35
MAX_DIE_COLOURS = 12  # a bin map may colour each bin; more colours than this are not a wafer map


def sniff(head: bytes) -> bool:
    """PNG, JPEG, GIF, TIFF, WebP or BMP by their magic bytes."""
    if head.startswith(MAGICS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    return head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 108, 124)


# --- opening ---------------------------------------------------------------------------------------
def open_picture(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """(H, W, 3) uint8 RGB pixels (transparency laid on white) and the picture's text chunks."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InputError(f"picture is {width} x {height} = {width * height / 1e6:.0f} megapixels; "
                                     f"fabsight reads wafer pictures up to {MAX_PIXELS / 1e6:.0f} megapixels "
                                     "(scale it down first)", path)
                image.load()
                text = {str(k): v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
                return _rgb(image), text
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"picture is too large to read safely ({exc})", path) from None
    except UnidentifiedImageError:
        raise InputError("not a picture Pillow can read (damaged, or not an image despite its name)", path) from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise InputError(f"picture is damaged or truncated ({exc})", path) from None


def _rgb(image: Image.Image) -> np.ndarray:
    from PIL import Image

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(image, dtype=np.float64)
        span = float(array.max() - array.min()) or 1.0
        image = Image.fromarray(((array - array.min()) * (255 / span)).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return np.asarray(image.convert("RGB"))


# --- 1. colours -------------------------------------------------------------------------------------
def colour_groups(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel group labels (H, W) uint8 (UNKNOWN = none), group colours (K, 3) and pixel counts (K,)."""
    key = ((pixels[..., 0] >> 4).astype(np.int32) << 8) | ((pixels[..., 1] >> 4).astype(np.int32) << 4) \
        | (pixels[..., 2] >> 4)  # (H, W) 4-bit-per-channel bin
    flat = key.ravel()
    counts = np.bincount(flat, minlength=4096).astype(np.float64)  # (4096,)
    filled = counts > 0
    means = np.zeros((4096, 3))
    for c in range(3):
        means[filled, c] = np.bincount(flat, weights=pixels[..., c].ravel(), minlength=4096)[filled] / counts[filled]
    free = filled.copy()
    centres: list[np.ndarray] = []
    for b in np.argsort(-counts, kind="stable"):
        if len(centres) == MAX_COLOURS or counts[b] == 0:
            break
        if not free[b]:
            continue
        near = free & (np.linalg.norm(means - means[b], axis=1) <= JOIN_RADIUS)
        centres.append(np.average(means[near], axis=0, weights=counts[near]))
        free &= ~near
    palette = np.array(centres)  # (K, 3)
    distance = np.linalg.norm(means[:, None, :] - palette[None, :, :], axis=2)  # (4096, K)
    lut = np.where(distance.min(axis=1) <= ASSIGN_RADIUS, distance.argmin(axis=1), UNKNOWN).astype(np.uint8)
    labels = lut[key]
    group_counts = np.bincount(labels.ravel(), minlength=256)[:len(palette)]
    return labels, palette, group_counts


def _background(labels: np.ndarray, thin: np.ndarray) -> int | None:
    """The colour of at least three of the picture's corners, else the commonest on its border
    (corners first: a wafer drawn edge to edge, as `imsave` does, covers most of the border).
    Colours in `thin` (lines: a frame, or die grid lines that run to the picture's edges) are passed over
    while any other colour is on the border."""
    corners = [int(labels[y, x]) for y in (0, -1) for x in (0, -1) if labels[y, x] != UNKNOWN]
    ring = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    ring = ring[ring != UNKNOWN]
    not_thin = np.isin(ring, thin, invert=True)
    if not_thin.any():
        corners = [colour for colour in corners if colour not in thin]
        ring = ring[not_thin]
    for colour in set(corners):
        if corners.count(colour) >= 3:
            return colour
    return int(np.bincount(ring).argmax()) if ring.size else None


def _in_blocks(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels inside some 2 x 2 block of one colour (not thin lines, text or tick marks)."""
    corner = labels[:-1, :-1]
    block = (corner == labels[1:, :-1]) & (corner == labels[:-1, 1:]) & (corner == labels[1:, 1:])
    inside = np.zeros(labels.shape, dtype=bool)
    for dy in (0, 1):
        for dx in (0, 1):
            inside[dy:dy + block.shape[0], dx:dx + block.shape[1]] |= block
    return inside


def _block_share(labels: np.ndarray, solid: np.ndarray, k: int) -> np.ndarray:
    """(k,) share of each group's pixels that sit in 2 x 2 blocks of their own colour."""
    in_blocks = np.bincount(labels[solid].ravel(), minlength=256)[:k]
    totals = np.bincount(labels.ravel(), minlength=256)[:k]
    return in_blocks / np.maximum(totals, 1)


def _area_groups(share: np.ndarray, background: int | None) -> np.ndarray:
    """Groups (ids) most of whose pixels sit in 2 x 2 blocks of their own colour."""
    ids = np.flatnonzero(share >= BLOB_SHARE)
    return ids[ids != background]


# --- 2. panels ----------------------------------------------------------------------------------------
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


def _grow(box: tuple[slice, slice], dies: np.ndarray, steps: int = 3) -> tuple[slice, slice]:
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


# --- 3. pitch ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    """Cells along one axis: boundary of cell k at `phase + k * pitch` (pixel coordinates)."""

    pitch: float
    phase: float
    fit: float = 1.0  # share of the colour-change positions that fall on cell boundaries
    rms: float = 0.0  # their RMS distance from the boundaries, pixels
    surprise: float = 0.0  # log-probability of fitting that well by chance

    def cells(self, start: int, stop: int) -> np.ndarray:
        """Indices k of the cells whose centres lie in [start, stop)."""
        first = math.ceil((start - self.phase) / self.pitch - 0.5)
        last = math.ceil((stop - self.phase) / self.pitch - 0.5) - 1
        return np.arange(first, last + 1)

    def samples(self, ks: np.ndarray, half: float, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel indices (n, S) near each cell centre (centres within `half`), and which are valid."""
        centres = self.phase + (ks + 0.5) * self.pitch  # (n,)
        span = min(limit, 2 * int(half) + 3)
        offsets = np.arange(span) - span // 2  # (S,)
        index = np.floor(centres)[:, None].astype(np.int64) + offsets[None, :]  # (n, S)
        valid = np.abs(index + 0.5 - centres[:, None]) <= max(half, 0.5)
        nearest = np.floor(centres).astype(np.int64)
        return np.where(valid, index, nearest[:, None]), valid


def changes_along(labels: np.ndarray, major: np.ndarray, axis: int, offset: int,
                  blurred: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Where the colour changes along `axis`: distinct positions (picture coordinates, in half pixels)
    and how many changes fall at each.

    Pixels of minor colours (edge blur, JPEG ringing, thin ink) are skipped:
    a change between two major colours with such pixels between them is put
    at the middle of the gap. In a `blurred` picture, changes a pixel apart
    (the two sides of a blurred edge) count as one, at their weighted middle.
    `major` (256,) bool says which colour groups count.
    """
    scan = labels if axis == 1 else labels.T  # changes along the rows of `scan`
    known = major[scan]  # (h, w)
    index = np.where(known, np.arange(scan.shape[1], dtype=np.int32)[None, :], -1)
    last = np.maximum.accumulate(index, axis=1)  # last major pixel at or before each position
    before = np.full_like(last, -1)
    before[:, 1:] = last[:, :-1]
    rows = np.arange(scan.shape[0])[:, None]
    change = known & (before >= 0) & (scan[rows, np.maximum(before, 0)] != scan)
    r, j = np.nonzero(change)
    doubled, counts = np.unique(before[r, j] + 1 + j, return_counts=True)  # twice the boundary coordinate
    inner = (doubled > 6) & (doubled < 2 * scan.shape[1] - 6)  # not the panel's own edges (windows pad 2 px)
    if inner.any():  # a die boundary changes colour over a die's length; blur and JPEG noise, a pixel or two
        keep = counts >= max(2.0, 0.15 * np.percentile(counts[inner], 90))
        doubled, counts = doubled[keep], counts[keep]
    if doubled.size == 0 or not blurred:
        return offset + doubled / 2, counts
    run = np.concatenate([[0], np.cumsum(np.diff(doubled) > 2)])
    counts_run = np.bincount(run, weights=counts)
    middle = np.bincount(run, weights=counts * doubled) / counts_run
    return offset + middle / 2, counts_run.astype(np.int64)


def _refine(positions: np.ndarray, pitch: float, phase: float) -> tuple[float, float]:
    """Least-squares pitch and phase from the change positions near the comb phase + k * pitch
    (each position counted once: how many rows change there says nothing about where)."""
    for _ in range(3):
        k = np.round((positions - phase) / pitch)
        near = np.abs(positions - phase - k * pitch) <= 0.3 * pitch
        if np.unique(k[near]).size < 2:
            break
        design = np.stack([np.ones(np.count_nonzero(near)), k[near]], axis=1)
        (phase, pitch), *_ = np.linalg.lstsq(design, positions[near], rcond=None)
        if pitch < 1:
            break
    return float(pitch), float(phase)


def comb_fit(positions: np.ndarray, pitch: float, phase: float) -> tuple[float, float, float]:
    """How well cell boundaries at phase + k * pitch explain the colour changes.

    Returns the share of change positions within 0.6 pixel of a boundary,
    their RMS distance to it (pixels), and the log-probability of explaining
    that many positions by chance (a random position is within 0.6 pixel of
    a boundary 1.2 / pitch of the time). The last is the score: a fraction of
    the pitch explains as many positions but is likelier by chance, and a
    multiple explains only some of them.
    """
    residual = (positions - phase) / pitch
    residual = np.abs(residual - np.round(residual)) * pitch
    near = residual <= 0.6
    explained = int(np.count_nonzero(near))
    chance = min(1.0, 1.2 / pitch)
    surprise = float(binom.logsf(explained - 1, positions.size, chance)) if chance < 1 else 0.0
    rms = float(np.sqrt(np.mean(residual[near] ** 2))) if explained else 1.0
    return explained / positions.size, rms, surprise


def pitch_candidates(positions: np.ndarray, counts: np.ndarray, start: int, length: int,
                     limit: int = 6) -> list[Axis]:
    """Periods of the colour changes (strongest first), as cell layouts in picture coordinates."""
    if positions.size < 2:
        return []
    doubled = np.round((positions - start) * 2).astype(np.int64)
    signal = np.zeros(int(doubled.max()) + 1)
    np.add.at(signal, doubled, counts)
    size = 1 << max(10, math.ceil(math.log2(16 * signal.size)))
    spectrum = np.fft.rfft(signal, size)  # (size/2 + 1,)
    power = np.abs(spectrum) / counts.sum()
    freqs = 2 * np.arange(power.size) / size  # cycles per pixel
    usable = (freqs >= 2.0 / max(length, 1)) & (freqs <= 1 / MIN_PITCH)
    peak = usable & (power >= MIN_COHERENCE)
    peak[1:-1] &= (power[1:-1] >= power[:-2]) & (power[1:-1] >= power[2:])
    peak[[0, -1]] = False
    taken: list[int] = []
    for j in np.flatnonzero(peak)[np.argsort(-power[peak])]:
        if all(abs(freqs[j] - freqs[t]) >= 2.5 / max(length, 1) for t in taken):
            taken.append(j)  # else a side lobe of a stronger peak
    # the strongest peaks, and the lowest strong ones (a large pitch has many equally strong harmonics)
    strong = sorted(t for t in taken if power[t] >= 0.5 * power[taken[0]]) if taken else []
    found: list[Axis] = []
    for j in dict.fromkeys(taken[:limit] + strong[:3]):
        pitch = 1.0 / freqs[j]
        phase = start + (-np.angle(spectrum[j]) / (2 * np.pi) * pitch) % pitch
        pitch, phase = _refine(positions, pitch, phase)
        if pitch >= MIN_PITCH * 0.9 and all(abs(pitch - a.pitch) > 0.02 * pitch for a in found):
            found.append(Axis(pitch, phase, *comb_fit(positions, pitch, phase)))
    return found


def ranked(found: list[Axis]) -> list[Axis]:
    """The candidates, best (least likely by chance) first, leaving out near misses: a pitch within
    10% of another whose boundaries sit clearly tighter on the changes (sparse changes fit both)."""
    kept = [c for c in found
            if not any(abs(o.pitch - c.pitch) <= 0.1 * c.pitch and o.rms < c.rms - RMS_SLACK
                       and o.fit >= c.fit - 0.1 for o in found)]
    return sorted(kept, key=lambda c: c.surprise)


def _squarest(rows: list[Axis], cols: list[Axis]) -> tuple[Axis, Axis]:
    return min(((r, c) for r in rows for c in cols),
               key=lambda rc: (round(abs(math.log(rc[0].pitch / rc[1].pitch)), 2), -rc[0].pitch * rc[1].pitch))


def choose_pitch(labels: np.ndarray, major: np.ndarray, box: tuple[slice, slice], source: str) -> tuple[Axis, Axis]:
    """The (row, column) cell layouts of one panel.

    Per axis, the pitch least likely to explain the colour changes by
    chance (see `comb_fit`). Where that is not sure (better than chance at
    1 in a million) in a blurred picture, the changes of each blurred edge
    are taken as one and the pitch sought again; where still not sure, the
    likely pitches (explaining 90% of the changes) that make dies
    squarest; with none, one pixel per die.
    """
    (y0, y1), (x0, x1) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
    pad = 2
    ya, yb = max(y0 - pad, 0), min(y1 + pad, labels.shape[0])
    xa, xb = max(x0 - pad, 0), min(x1 + pad, labels.shape[1])
    counts = np.bincount(labels[box].ravel(), minlength=256)
    blurred = counts[~major].sum() > 0.01 * counts.sum()  # many pixels of minor colours: JPEG, smoothing
    windows = ((0, y0, y1, ya, labels[ya:yb, x0:x1]), (1, x0, x1, xa, labels[y0:y1, xa:xb]))
    for merge in ((False, True) if blurred else (False,)):  # blurred edges as one change, if need be
        options = []
        for axis, start, stop, offset, window in windows:
            positions, counts = changes_along(window, major, axis, offset, merge)
            if not ((positions > start) & (positions < stop)).any():
                raise InputError("the picture shows no die boundaries (one block of a single colour)", source)
            options.append(ranked(pitch_candidates(positions, counts, start - pad, stop - start)))
        sure = [bool(o) and o[0].surprise <= MAX_SURPRISE for o in options]
        if all(sure):
            break
    likely = [[c for c in o if c.fit >= LIKELY_FIT] for o in options]
    if sure[0] and sure[1]:
        return options[0][0], options[1][0]
    if sure[0] or sure[1]:  # too few changes on one axis to be sure: the pitch that makes dies squarest
        if not likely[1 - sure.index(True)]:
            raise InputError("found no regular die grid in the picture", source)
        return _squarest([options[0][0]] if sure[0] else likely[0], [options[1][0]] if sure[1] else likely[1])
    if likely[0] and likely[1]:
        rows, cols = _squarest(likely[0], likely[1])
        if abs(math.log(rows.pitch / cols.pitch)) < math.log(1.2):
            return rows, cols
    if max(y1 - y0, x1 - x0) > MAX_UNSCALED_SIDE:
        raise InputError("found no regular die grid in the picture", source)
    return Axis(1.0, 0.0), Axis(1.0, 0.0)  # no periodic changes: one pixel per die


def major_groups(labels: np.ndarray, box: tuple[slice, slice], k: int, areas: np.ndarray,
                 background: int | None) -> np.ndarray:
    """Lookup (256,) bool: the colours whose changes mark die boundaries (area colours, the background
    and any colour covering 2% of the panel, such as grid lines)."""
    counts = np.bincount(labels[box].ravel(), minlength=256)
    major = counts >= 0.02 * counts.sum()
    major[areas] = True
    if background is not None:
        major[background] = True
    major[k:] = False
    return major


# --- 4. votes -----------------------------------------------------------------------------------------------
def vote(labels: np.ndarray, k: int, rows: Axis, cols: Axis,
         box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """Winning colour group (ny, nx) and its share of the votes, per cell whose centre is in the box.

    The middle half of each cell votes (at most SAMPLES x SAMPLES pixels;
    the one pixel at the centre when the pitch is under 4 pixels), so grid
    lines and blurred edges do not.
    """
    ky, kx = rows.cells(box[0].start, box[0].stop), cols.cells(box[1].start, box[1].stop)
    if ky.size == 0 or kx.size == 0:
        return np.zeros((0, 0), np.uint8), np.zeros((0, 0))
    halves = [0.25 * a.pitch if a.pitch >= 4 else 0.5 for a in (rows, cols)]
    ys, vy = rows.samples(ky, halves[0], SAMPLES)
    xs, vx = cols.samples(kx, halves[1], SAMPLES)
    ys, xs = np.clip(ys, 0, labels.shape[0] - 1), np.clip(xs, 0, labels.shape[1] - 1)
    groups = k + 1  # colour groups and one slot for "no group"
    picked = labels[ys[:, :, None, None], xs[None, None, :, :]]  # (ny, Sy, nx, Sx) group per sample
    picked = np.where(picked == UNKNOWN, groups - 1, picked).astype(np.int64)  # last slot: no group
    valid = vy[:, :, None, None] & vx[None, None, :, :]
    cell = np.arange(ky.size)[:, None, None, None] * kx.size + np.arange(kx.size)[None, None, :, None]
    cell = np.broadcast_to(cell, picked.shape)
    counts = np.bincount((cell[valid] * groups + picked[valid]), minlength=ky.size * kx.size * groups)
    counts = counts.reshape(ky.size, kx.size, groups)
    counts[..., groups - 1] = 0  # pixels of no group do not vote
    winners = counts.argmax(axis=2).astype(np.uint8)
    best = np.take_along_axis(counts, winners[..., None].astype(np.int64), axis=2)[..., 0]
    totals = np.count_nonzero(valid, axis=(1, 3))  # (ny, nx)
    share = best / np.maximum(totals, 1)
    winners[best == 0] = UNKNOWN
    return winners, share


# --- 5. colours to states ------------------------------------------------------------------------------------
def lightness(rgb: np.ndarray) -> float:
    """CIE L* (0..100) of an sRGB colour."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = float(linear @ [0.2126, 0.7152, 0.0722])
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


def _hue_score(rgb: np.ndarray, towards: float) -> float:
    """HSV saturation x cos(hue - towards degrees): 1 for a pure colour of that hue, 0 for grey."""
    r, g, b = np.asarray(rgb, dtype=np.float64) / 255
    high, low = max(r, g, b), min(r, g, b)
    if high == 0 or high == low:
        return 0.0
    saturation = (high - low) / high
    if high == r:
        hue = 60 * (((g - b) / (high - low)) % 6)
    elif high == g:
        hue = 60 * ((b - r) / (high - low) + 2)
    else:
        hue = 60 * ((r - g) / (high - low) + 4)
    return saturation * math.cos(math.radians(hue - towards))


def redness(rgb: np.ndarray) -> float:
    return _hue_score(rgb, 0.0)


def _fail_of_two(a: int, b: int, palette: np.ndarray, off: int | None, background: int | None) -> int:
    ra, rb = redness(palette[a]), redness(palette[b])
    redder = a if ra >= rb else b
    if off is not None and off != background:  # colour-mapped array
        greener = b if redder == a else a
        if redness(palette[redder]) >= 0.3 and _hue_score(palette[greener], 120.0) >= 0.3:
            return redder  # a red and a green (jet, rainbow): red is fail
        la, lb = (abs(lightness(palette[c]) - lightness(palette[off])) for c in (a, b))
        return redder if abs(la - lb) < 8 else (a if la > lb else b)  # sequential maps: 2 is furthest from 0
    if abs(ra - rb) >= 0.15:
        return redder
    reference = lightness(palette[background]) if background is not None else 100.0
    la, lb = (abs(lightness(palette[c]) - reference) for c in (a, b))
    return a if la >= lb else b


@dataclass
class Reading:
    grid: np.ndarray
    colours: dict[str, Any]  # JSON-ready: the colours read as off / pass / fail
    die_plot: bool  # off-wafer is the background colour


def _outside(mask: np.ndarray) -> bool:
    """Whether the marked cells lie round the outside, as off-wafer cells do: in every row and column
    they only continue a run that starts at the border (a few strays allowed)."""
    strays = 0
    for m in (mask, mask.T):
        inside = ~m
        has = inside.any(axis=1)
        first = np.argmax(inside, axis=1)
        last = m.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
        cols = np.arange(m.shape[1])[None, :]
        between = (cols >= first[:, None]) & (cols <= last[:, None]) & has[:, None]
        strays += np.count_nonzero(m & between)
    return strays <= 0.02 * max(np.count_nonzero(mask), 1)


def _may_be_off(rgb: np.ndarray) -> bool:
    """Off-wafer is never green or a bright red: those round the outside are pass or fail dies."""
    return _hue_score(rgb, 120.0) < 0.25 and not (redness(rgb) >= RED_ENOUGH and lightness(rgb) >= 25)


def states(winners: np.ndarray, share: np.ndarray, palette: np.ndarray, background: int | None,
           source: str) -> Reading:
    """OFF / PASS / FAIL per cell from the winning colour groups (rules in the module docstring)."""
    won = [int(g) for g in np.unique(winners) if g != UNKNOWN and share[winners == g].mean() >= 0.5]
    if not won:
        raise InputError("found no dies in the picture", source)
    ring = np.concatenate([winners[0], winners[-1], winners[:, 0], winners[:, -1]])
    corners = {int(winners[0, 0]), int(winners[0, -1]), int(winners[-1, 0]), int(winners[-1, -1])}
    around = next(iter(corners)) if len(corners) == 1 else None  # the colour of all four corners
    off: int | None = None
    if background in won and _outside(winners == background):
        off = background  # a die plot
    elif around in won and around != background and len(won) >= 2 and _may_be_off(palette[around]) \
            and _outside(winners == around):
        off = around  # a colour-mapped array
    elif background in won:
        off = background
    elif len(won) >= 3:
        off = max(won, key=lambda g: np.count_nonzero(ring == g))
    cells = {g: int(np.count_nonzero(winners == g)) for g in won}
    dies = sorted((g for g in won if g != off), key=lambda g: -cells[g])
    # a third colour and beyond must hold its cells clearly (JPEG noise can win a stray cell)
    dies = dies[:2] + [g for g in dies[2:] if cells[g] >= 3 and share[winners == g].mean() >= 0.8]
    if not dies:
        raise InputError("found no dies in the picture (only off-wafer colour)", source)
    fails: list[int]
    if len(dies) == 1:
        fails = dies if redness(palette[dies[0]]) >= RED_ENOUGH else []
        passes = [g for g in dies if g not in fails]
    elif len(dies) == 2:
        fails = [_fail_of_two(dies[0], dies[1], palette, off, background)]
        passes = [g for g in dies if g not in fails]
    elif len(dies) > MAX_DIE_COLOURS:
        raise InputError(f"the picture has {len(dies)} colours in a grid: not a wafer map picture", source)
    else:
        passes = [max(dies, key=lambda g: _hue_score(palette[g], 120.0))]
        fails = [g for g in dies if g not in passes]
    classes = {g: OFF for g in ([off] if off is not None else [])} | {g: PASS for g in passes} | \
        {g: FAIL for g in fails}
    ids = np.array(list(classes), dtype=np.int64)
    lut = np.full(256, OFF, np.uint8)
    for group in range(len(palette)):  # groups that won no die go to the nearest class colour
        lut[group] = classes[int(ids[np.linalg.norm(palette[ids] - palette[group], axis=1).argmin()])]
    lut[list(classes)] = list(classes.values())
    colours = {"off": _hex(palette[off]) if off is not None else None,
               "pass": [_hex(palette[g]) for g in passes], "fail": [_hex(palette[g]) for g in fails]}
    return Reading(lut[winners], colours, off is not None and off == background)


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{round(float(v)):02x}" for v in rgb)


# --- the whole picture ---------------------------------------------------------------------------------------
def maps_from_pixels(pixels: np.ndarray, source: str = "picture") -> list[WaferMap]:
    """Every wafer map in an (H, W, 3) uint8 RGB picture."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 2:
        raise InputError(f"expected an RGB picture, got an array of shape {pixels.shape}", source)
    labels, palette, _ = colour_groups(pixels)
    solid = _in_blocks(labels)
    share = _block_share(labels, solid, len(palette))
    background = _background(labels, thin=np.flatnonzero(share < BLOB_SHARE))
    areas = _area_groups(share, background)
    if areas.size == 0:  # one pixel per die and busy: every sizeable colour but the background
        counts = np.bincount(labels.ravel(), minlength=256)[:len(palette)]
        areas = np.flatnonzero(counts >= 0.01 * labels.size)
        areas = areas[areas != background]
    if areas.size == 0:
        raise InputError("found no wafer map in the picture (no areas of colour)", source)
    in_map = np.isin(labels, areas)
    drawn = (labels != background) & (labels != UNKNOWN)
    boxes = panels(in_map & solid, drawn)  # solid: axis lines, tick marks and labels stay out of the box
    if not boxes:  # one pixel per die and busy: no solid areas
        boxes = panels(in_map, drawn)
    if not boxes:
        raise InputError("found no wafer map in the picture", source)
    wafers, failures = [], []
    for number, box in enumerate(boxes):
        try:
            wafer = read_panel(labels, palette, background, areas, box, source)
        except InputError as exc:
            failures.append((number, exc))
            continue
        if len(boxes) > 1:
            wafer.extra["panel"] = number
            # top, left, bottom, right
            wafer.extra["panel_box"] = [box[0].start, box[1].start, box[0].stop, box[1].stop]
        wafers.append(wafer)
    if not wafers:
        raise failures[0][1]
    if failures:
        warnings.warn(f"{source}: skipped {len(failures)} of {len(boxes)} maps in the picture (panel "
                      f"{failures[0][0]}: {failures[0][1].message})", FabsightWarning, stacklevel=2)
    return wafers


def read_panel(labels: np.ndarray, palette: np.ndarray, background: int | None, areas: np.ndarray,
               box: tuple[slice, slice], source: str) -> WaferMap:
    """The wafer map in one panel of a picture (steps 3 to 5 of the module docstring)."""
    rows, cols = choose_pitch(labels, major_groups(labels, box, len(palette), areas, background), box, source)
    if rows.pitch == cols.pitch == 1:  # one pixel per die: edge dies need not be in 2 x 2 blocks
        box = _grow(box, (labels != background) & (labels != UNKNOWN))
    winners, share = vote(labels, len(palette), rows, cols, box)
    if winners.size == 0:
        raise InputError("found no dies in the picture", source)
    reading = states(winners, share, palette, background, source)
    die_colours = len(reading.colours["pass"]) + len(reading.colours["fail"])
    if rows.pitch == cols.pitch == 1 and die_colours > 2:
        raise InputError("found no clean die grid: colours blend between dies, so the picture is not a wafer map "
                         "(a chart, a photo?) or it is smoothed or compressed; if it is a map, export it larger, "
                         "as PNG, without interpolation", source)
    if die_colours > 2:  # said only of a map that is read: a picture refused above needs no second message
        warnings.warn(f"{source}: the picture has {die_colours} die colours; read {reading.colours['pass'][0]} as "
                      "pass and the others as fail (a bin map? if not, the picture may be too blurred or "
                      "compressed to read die by die)", FabsightWarning, stacklevel=3)
    grid = reading.grid
    if reading.die_plot:
        on = grid != OFF  # a die plot shows no off-wafer margin: cut to the dies
        if on.any():
            r, c = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
            grid = grid[r[0]:r[-1] + 1, c[0]:c[-1] + 1]
    extra: dict[str, Any] = {"recovered_from": "picture", "pitch_px": [round(rows.pitch, 3), round(cols.pitch, 3)],
                             "colours": reading.colours}
    return WaferMap(grid=grid, source=source, extra=extra)


def maps_from_image(image: Image.Image, source: str = "picture") -> list[WaferMap]:
    """Every wafer map in a PIL image (see the module docstring)."""
    if image.width * image.height > MAX_PIXELS:
        raise InputError(f"picture is {image.width * image.height / 1e6:.0f} megapixels; the limit is "
                         f"{MAX_PIXELS / 1e6:.0f}", source)
    return maps_from_pixels(_rgb(image), source)


def read(path: Path, options: LoadOptions) -> list[WaferMap]:
    pixels, text = open_picture(path)
    wafers = maps_from_pixels(pixels, str(path))
    try:
        identity = json.loads(text.get("fabsight", "{}"))
    except json.JSONDecodeError:
        identity = {}
    if isinstance(identity, dict) and len(wafers) == 1:
        for key in ("lot", "wafer_id", "product"):
            if isinstance(identity.get(key), str):
                setattr(wafers[0], key, identity[key])
    return wafers
