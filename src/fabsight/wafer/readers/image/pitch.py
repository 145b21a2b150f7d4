"""Step 3 of reading a picture: the die pitch and phase along each axis of a panel, from where its
colour changes (Fourier peaks refined by least squares, scored by how unlikely their fit is by chance)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from fabsight.errors import InputError

MIN_COHERENCE = 0.2  # Fourier peak height (share of all colour changes) for a candidate pitch
RMS_SLACK = 0.1
MAX_SURPRISE = math.log(1e-6)
LIKELY_FIT = 0.9
MIN_PITCH = 1.8
MAX_UNSCALED_SIDE = 1500  # one pixel per die is only considered up to this many pixels across


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
