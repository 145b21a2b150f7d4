"""Wafer files of every format the readers know, and a loaded tiny model, for the task tests."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from fabsight.wafer.synth import generate

STDF = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "stdf" / "lot2.stdf.gz"


@pytest.fixture(scope="session")
def siglip(tiny_siglip_folder):
    from fabsight.models.dual_encoder import load_dual_encoder

    return load_dual_encoder(str(tiny_siglip_folder))


@pytest.fixture
def mixed_folder(tmp_path):
    """A folder with one wafer per format (npz, npy stack of two, png, die-list csv, STDF) and one corrupt file."""
    from fabsight.wafer.npz import save_npz
    from fabsight.wafer.render import save_png

    samples = generate("any", n=4, seed=7)
    folder = tmp_path / "maps"
    save_npz(samples[0].wafer, folder / "a.npz")
    np.save(folder / "b.npy", np.stack([samples[1].grid[:20, :20], samples[2].grid[:20, :20]]))
    save_png(samples[3].wafer, folder / "c.png")
    rows = ["x,y,pass"] + [f"{x},{y},{int((x + y) % 5 != 0)}" for y in range(12) for x in range(12)
                           if (x - 5.5) ** 2 + (y - 5.5) ** 2 < 36]
    (folder / "d.csv").write_text("\n".join(rows) + "\n")
    if STDF.exists():
        shutil.copy(STDF, folder / "e.stdf.gz")
    (folder / "z_corrupt.npz").write_bytes(b"PK\x03\x04 this is not a real zip archive")
    return folder
