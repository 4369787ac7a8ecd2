"""disentangle: learn and measure disentangled representations (InfoGAN and friends)."""

from disentangle.errors import DisentangleError
from disentangle.registry import Component, Details, get_registry, hookimpl

__version__ = "0.1.0"
__all__ = ["Component", "Details", "DisentangleError", "get_registry", "hookimpl", "__version__"]
