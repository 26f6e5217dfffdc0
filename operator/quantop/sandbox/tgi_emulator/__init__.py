"""A faithful stand-in for Hugging Face TGI: same endpoints, payloads and metric names."""

from .profiles import Profile, profile_for, profile_named, profile_names
from .server import Emulator

__all__ = ["Emulator", "Profile", "profile_for", "profile_named", "profile_names"]
