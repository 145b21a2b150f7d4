"""Pictures of wafer maps (PNG, JPEG, GIF, WebP, TIFF, BMP) → the die grid, recovered from the pixels.

Works on fabsight's own pictures (`fabsight.wafer.render`, recovered exactly)
and on the usual exports of other tools: die plots (green / red / white,
with or without grid lines) and colour-mapped arrays (matplotlib `imshow`
or `imsave` of a WM-811K array). A picture holding several maps side by
side (a figure of examples) gives one map per panel, in reading order.

How (all vectorised numpy / scipy; step 1 in `colours`, 2 in `panels`, 3 in `pitch`, 4 and 5 in `dies`):

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
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fabsight.errors import FabsightWarning, InputError
from fabsight.wafer.map import OFF, WaferMap
from fabsight.wafer.readers.image.colours import (
    BLOB_SHARE, UNKNOWN, area_groups, background_colour, block_share, colour_groups, in_blocks,
)
from fabsight.wafer.readers.image.dies import states, vote
from fabsight.wafer.readers.image.panels import grow, panels
from fabsight.wafer.readers.image.pitch import choose_pitch, major_groups

if TYPE_CHECKING:
    from PIL import Image

    from fabsight.wafer.readers import LoadOptions

MAX_PIXELS = 30_000_000  # refused above this, before decoding (about 10 s and 1.2 GB to read one that big)
MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")


def sniff(head: bytes) -> bool:
    """PNG, JPEG, GIF, TIFF, WebP or BMP by their magic bytes."""
    if head.startswith(MAGICS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    return head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 108, 124)


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


def maps_from_pixels(pixels: np.ndarray, source: str = "picture") -> list[WaferMap]:
    """Every wafer map in an (H, W, 3) uint8 RGB picture."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 2:
        raise InputError(f"expected an RGB picture, got an array of shape {pixels.shape}", source)
    labels, palette, _ = colour_groups(pixels)
    solid = in_blocks(labels)
    share = block_share(labels, solid, len(palette))
    background = background_colour(labels, thin=np.flatnonzero(share < BLOB_SHARE))
    areas = area_groups(share, background)
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
    """The wafer map in one panel of a picture (steps 3 to 5 of the package docstring)."""
    rows, cols = choose_pitch(labels, major_groups(labels, box, len(palette), areas, background), box, source)
    if rows.pitch == cols.pitch == 1:  # one pixel per die: edge dies need not be in 2 x 2 blocks
        box = grow(box, (labels != background) & (labels != UNKNOWN))
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
