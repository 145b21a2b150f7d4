import os
import stat

import pytest

from fabsight.files import atomic_write


def test_atomic_write_follows_the_umask_and_leaves_nothing_on_failure(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.bin") as handle:
            handle.write(b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "a.bin") as handle:
            handle.write(b"half")
            raise RuntimeError("crash mid-write")
    assert (tmp_path / "a.bin").read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
