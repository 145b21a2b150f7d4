"""Shared fixtures of the evaluation tests."""

from __future__ import annotations

import pytest
from captiondata import make_caption_pairs


@pytest.fixture(scope="session")
def caption_pairs():
    return make_caption_pairs()
