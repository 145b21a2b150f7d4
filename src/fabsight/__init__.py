"""fabsight: a multimodal assistant for semiconductor test and failure analysis."""

from fabsight.errors import FabsightError, FabsightWarning, InputError
from fabsight.wafer.map import FAIL, OFF, PASS, Orientation, WaferMap
from fabsight.wafer.readers import load, load_many

__version__ = "0.1.0"

__all__ = ["FAIL", "OFF", "PASS", "FabsightError", "FabsightWarning", "InputError",
           "Orientation", "WaferMap", "load", "load_many", "__version__"]
