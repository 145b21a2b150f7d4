"""The README's Python examples run as written (from the repository root, on the shared STDF data)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import fabsight

ROOT = Path(__file__).resolve().parents[1]
STDF = ROOT / ".." / "shared" / "data" / "stdf"


def python_examples() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.S | re.M)
    assert blocks, "the README has no Python example"
    return "\n".join(blocks)  # one script: a later example uses what an earlier one imported


def test_the_readme_python_examples_run():
    if not STDF.exists():
        pytest.skip(f"shared STDF data not found at {STDF}")
    run = subprocess.run([sys.executable, "-c", python_examples()], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    wafers = [w for path in sorted(STDF.glob("*.stdf*")) for w in fabsight.load(path)]
    printed = run.stdout.splitlines()
    assert any(line.startswith(f"{wafers[0].name} {wafers[0].dies} {wafers[0].fails} ") for line in printed)
    classified = [line for line in printed if line.split(" ")[0] in {w.wafer_id for w in wafers}]
    assert len(classified) == len(wafers)  # one answer per wafer of the folder the example classifies
    (scored,) = [line for line in printed if line.startswith("real maps: accuracy ")]  # the evaluation example
    assert 0 < float(scored.split()[3].rstrip(",")) <= 1
