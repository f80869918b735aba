"""Deprecated: this module is now scenegen.synth.object_motion (see scenegen/deprecated.py)."""

from ..deprecated import warn_once
from .object_motion import GRAVITY, MOTION_TYPES, Motion, axis_angle_matrix, euler_matrix  # noqa: F401

warn_once("scenegen.synth.motion", "scenegen.synth.object_motion")
