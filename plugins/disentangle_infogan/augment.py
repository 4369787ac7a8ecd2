"""Small random affine maps of G's images, under which Q must still read the discrete codes.

InfoGAN's categorical code is free to encode anything Q can tell apart: on digits G's categories
often carry slant or position (one category of upright 1s, one of slanted ones) instead of the
digit. Scoring Q's discrete codes on a randomly rotated, shifted and zoomed copy of each fake
image makes those cues unreliable, so G has to put its categories in what survives them. The idea
of a cluster code invariant to small transformations is IMSAT's (Hu et al., ICML 2017) and IIC's
(Ji et al., ICCV 2019); here it acts on G's side, through Q. Continuous codes are scored on the
untouched images: a code for slant must stay readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineRange:
    """Each map draws every parameter uniformly within ± these bounds, independently per image."""

    rotation_deg: float = 20.0
    shift: float = 1 / 14  # of the image side (2 px at 28 px)
    scale: float = 0.1  # relative zoom


DEFAULT_RANGE = AffineRange()


def draw_affine(n: int, generator: torch.Generator | None, device: torch.device,
                bounds: AffineRange = DEFAULT_RANGE) -> torch.Tensor:
    """(n, 2, 3) affine matrices in `affine_grid`'s normalised coordinates, from one draw of
    (n, 4) numbers of `generator` (graph-safe: no host sync)."""
    u = torch.rand(n, 4, generator=generator, device=device) * 2 - 1  # (n, 4) in [-1, 1)
    angle = u[:, 0] * math.radians(bounds.rotation_deg)
    zoom = 1 + u[:, 1] * bounds.scale
    tx, ty = u[:, 2] * (2 * bounds.shift), u[:, 3] * (2 * bounds.shift)  # side = 2 units
    cos, sin = zoom * angle.cos(), zoom * angle.sin()
    return torch.stack([torch.stack([cos, -sin, tx], 1),
                        torch.stack([sin, cos, ty], 1)], 1)  # (n, 2, 3)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) images resampled under (n, 2, 3) maps, bilinear; pixels from outside take
    the nearest border pixel (the background, for centred images). Differentiable in images."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)
