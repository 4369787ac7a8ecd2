"""Built-in datasets plugin: real datasets read from their published files, two embedded ones,
and `folder` for your own images.

Registered through the same `disentangle_datasets` hook a third-party plugin implements. Each
factory imports its module only when called, so listing components stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

from disentangle import Component, Details, hookimpl


def _lazy(module: str, cls: str) -> Callable[..., Any]:
    def factory(**options: Any) -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**options)

    factory.__qualname__ = factory.__name__ = cls
    factory.__doc__ = f"{__name__}.{module}.{cls}(**options)"
    return factory


def _details(shape: str, targets: str, files: str) -> Details:
    return Details(shape=shape, targets=targets, files=files)


@hookimpl
def disentangle_datasets() -> Iterator[Component]:
    yield Component("digits", _lazy("digits", "Digits"),
                    "1,797 real handwritten digits (scikit-learn), 28x28",
                    details=_details("1x28x28", "10 classes", "none"))
    yield Component("shapes", _lazy("shapes", "Shapes"),
                    "procedural dSprites-style sprites, rendered at 64 or 32 px",
                    details=_details("1x64x64, 1x32x32", "5 factors", "none"))
    yield Component("mnist", _lazy("mnist", "MNIST"), "MNIST handwritten digits, 28x28",
                    details=_details("1x28x28", "10 classes", "MNIST/raw/ (IDX)"))
    yield Component("fashion-mnist", _lazy("mnist", "FashionMNIST"),
                    "Fashion-MNIST clothing images, 28x28",
                    details=_details("1x28x28", "10 classes", "FashionMNIST/raw/ (IDX)"))
    yield Component("svhn", _lazy("svhn", "SVHN"), "SVHN house-number digits, 32x32 colour",
                    details=_details("3x32x32", "10 classes", "SVHN/ or flat (.mat)"))
    yield Component("celeba", _lazy("celeba", "CelebA"),
                    "CelebA aligned faces, centre crop at 32 or 64 px",
                    details=_details("3x32x32, 3x64x64", "40 attributes", "celeba/ (by hand)"))
    yield Component("folder", _lazy("folder", "Folder"),
                    "your own PNG/JPEG images, recursively; sub-folders as classes",
                    details=_details("3x32x32 (--image-size)", "sub-folders, if any",
                                     "--data-dir itself"))
    yield Component("dsprites", _lazy("dsprites", "DSprites"),
                    "dSprites binary sprites, 64x64, every factor combination",
                    details=_details("1x64x64", "6 factors", "dsprites/ (.npz)"))
    yield Component("shapes3d", _lazy("shapes3d", "Shapes3D"),
                    "3D Shapes renders, 64x64 colour, every factor combination",
                    details=_details("3x64x64", "6 factors", "3dshapes/ (.h5)"))
