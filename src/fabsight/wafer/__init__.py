"""Wafer maps: the type, statistics, readers, rendering and the synthetic generator."""

from fabsight.wafer.map import FAIL, NO_BIN, OFF, PASS, Orientation, WaferMap

__all__ = ["FAIL", "NO_BIN", "OFF", "PASS", "Orientation", "WaferMap"]
