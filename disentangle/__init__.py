"""disentangle: learn and measure disentangled representations (InfoGAN and friends)."""

from disentangle.errors import DisentangleError
from disentangle.registry import Component, Details, get_registry, hookimpl

__version__ = "0.1.0"
__all__ = ["Component", "Details", "DisentangleError", "get_registry", "hookimpl", "load_run", "__version__"]


def __getattr__(name: str):
    """`disentangle.load_run` imports torch only when used, so `import disentangle` stays quick."""
    if name == "load_run":
        from disentangle.trained import load_run

        return load_run
    raise AttributeError(f"module 'disentangle' has no attribute '{name}'")


def __dir__() -> list[str]:
    """Lists the lazy `load_run` too, so a notebook's completion offers it."""
    return sorted({*globals(), "load_run"})
