"""Java and the optional evaluation packages: finding them, and saying clearly what to install when missing."""

from __future__ import annotations

import shutil

from fabsight.errors import FabsightError

INSTALL_HINT = ("install a Java runtime (8 or newer), e.g. `sudo apt-get install default-jre-headless`, "
                "`brew install openjdk` or https://adoptium.net, and make sure `java` is on PATH")


def java_executable() -> str | None:
    """Path of `java` on PATH, or None. pycocoevalcap runs plain `java`, so PATH is what counts."""
    return shutil.which("java")


def require_java(purpose: str) -> str:
    found = java_executable()
    if found is None:
        raise FabsightError(f"Java was not found on PATH; {purpose} needs it: {INSTALL_HINT}")
    return found


def eval_extra_missing(package: str, exc: ImportError) -> FabsightError:
    return FabsightError(f"{package} is not installed ({exc}); install the evaluation extra: "
                         f"pip install 'fabsight[eval]'")
