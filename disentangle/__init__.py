"""disentangle: learn and measure disentangled representations (InfoGAN and friends)."""

from disentangle._lazy import lazy_names
from disentangle.errors import DisentangleError
from disentangle.registry import Component, Details, get_registry, hookimpl

__version__ = "0.1.0"
__all__ = ["Component", "Details", "DisentangleError", "get_registry", "hookimpl", "load_run", "__version__"]
# `disentangle.load_run` imports torch only when used, so `import disentangle` stays quick
__getattr__, __dir__ = lazy_names(__name__, {"load_run": "disentangle.trained"})
