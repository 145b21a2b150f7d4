"""The one table of models fabsight ships. Hugging Face models load by id or local path beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    family: str  # "dual-encoder" (CLIP / SigLIP style)
    folder: Path  # a `save_pretrained` folder inside the package
    summary: str
    rebuild: str  # the one command that trains it again from scratch


SHIPPED: tuple[ShippedModel, ...] = (
    ShippedModel("wafer-clip", "dual-encoder", WEIGHTS / "wafer-clip",
                 "image-text model for wafer maps, trained on fabsight's synthetic maps and descriptions",
                 "fabsight train clip"),
)


def shipped(name: str) -> ShippedModel | None:
    return next((m for m in SHIPPED if m.name == name), None)
