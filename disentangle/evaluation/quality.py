"""Sample quality: FID (Heusel et al., 2017) and KID (Bińkowski et al., 2018) of a run's generated
images against a dataset split, both computed by torchmetrics on the 2048 pool features of the
Inception-v3 network that the original TensorFlow FID code used (torch-fidelity's port,
"inception-v3-compat", which resizes to 299x299 the way TensorFlow 1 did).

The weights are never downloaded behind the user's back: `--download` fetches them (95.6 MB, SHA256
checked) into the cache directory, and a missing file is one error line that says how to get it.
Features are extracted once per image and handed to both metrics, so KID costs no extra pass.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from disentangle.errors import DisentangleError
from disentangle.model import LatentModel, in_mode

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_NAME}"
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # the KID paper's and torchmetrics' defaults
FEATURES = "inception-v3-compat pool3 (2048)"


def default_weights() -> Path:
    """The cache directory's copy: $DISENTANGLE_CACHE_DIR, else .cache in the default data
    directory (not the run's data_dir: one copy serves every run)."""
    from disentangle.data import cache_dir, resolve_data_dir

    return cache_dir(resolve_data_dir(None)) / WEIGHTS_NAME


def fetch_weights(path: Path) -> None:
    """Download the Inception weights to `path`, checking their SHA256 (torch.hub shows progress
    on stderr and moves the file into place only once it is complete and correct)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(path), hash_prefix=WEIGHTS_SHA256)
    except Exception as exc:  # URLError, HTTPError, a hash mismatch (RuntimeError), OSError
        raise DisentangleError(f"could not download the Inception weights from {WEIGHTS_URL} "
                               f"into {path}: {exc}") from None


def require() -> None:
    """One error line when the optional packages are missing."""
    try:
        import torch_fidelity  # noqa: F401
        import torchmetrics.image.fid  # noqa: F401
    except ImportError:
        raise DisentangleError("--fid needs torchmetrics and torch-fidelity: pip install "
                               "'disentangle[fid]'") from None


def _inception(path: Path, state: dict[str, Any]) -> nn.Module:
    """torch-fidelity's Inception-v3, loaded from `path` (`state` was checked to be plain
    tensors); images uint8 (N, 3, H, W) in, (N, 2048) features out."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                              feature_extractor_weights_path=str(path))


network: Callable[[Path, dict[str, Any]], nn.Module] = _inception  # tests put a small stand-in


def load_extractor(weights: Path | None = None, download: bool = False) -> nn.Module:
    """The feature network from `weights` (default: the cache's copy), fetched first when asked.
    It carries `weights` (the file) and `official` (whether its SHA256 is the published one's:
    FID from any other weights is not comparable with published figures)."""
    require()
    path = Path(weights).expanduser() if weights is not None else default_weights()
    if not path.is_file() and download:
        fetch_weights(path)
    if not path.is_file():
        raise DisentangleError(f"--fid needs the Inception weights {path}, which are missing: "
                               f"add --download to fetch them (95.6 MB), or place {WEIGHTS_NAME} "
                               f"from {WEIGHTS_URL} there (or pass --fid-weights FILE)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only, no code
    except Exception as exc:
        raise DisentangleError(f"{path}: not a readable weights file ({_first_line(exc)}); "
                               "delete it and fetch it again with --download") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise DisentangleError(f"{path}: not a state dict of tensors; delete it and fetch it "
                               "again with --download")
    try:
        extractor = network(path, state)
    except RuntimeError as exc:  # load_state_dict: missing keys, wrong shapes
        raise DisentangleError(f"{path}: these are not the Inception weights "
                               f"({_first_line(exc)}); delete the file and fetch it again with "
                               "--download") from None
    extractor.weights, extractor.official = str(path), sha256(path) == WEIGHTS_SHA256
    return extractor.eval().requires_grad_(False)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _Given(nn.Module):
    """Hands precomputed features to a torchmetrics metric as if it had extracted them."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def distances(real: torch.Tensor, fake: torch.Tensor, kid_subsets: int = KID_SUBSETS,
              kid_subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> dict[str, float]:
    """FID and KID (mean and std over random subsets) between two feature sets (N, F)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if len(real) < 2 or len(fake) < 2:
        raise DisentangleError(f"FID and KID need at least 2 real and 2 generated images, got "
                               f"{len(real)} and {len(fake)}")
    real, fake = real.double().cpu(), fake.double().cpu()
    width = real.shape[1]
    fid = FrechetInceptionDistance(feature=_Given(width))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    size = min(kid_subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # "KID keeps every feature in memory": so do we, on purpose
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Given(width), subsets=kid_subsets,
                                      subset_size=size)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global generator
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
            "kid_subsets": kid_subsets, "kid_subset_size": size}


@torch.no_grad()
def features(extractor: nn.Module, images: Callable[[int, int], torch.Tensor], n: int,
             batch_size: int, device: torch.device,
             advance: Callable[[int], None] | None = None) -> torch.Tensor:
    """Features of n images; `images(start, stop)` gives uint8 (B, C, H, W) for that range
    (grey images are repeated to three channels, as Inception needs)."""
    out = []
    for start in range(0, n, batch_size):
        batch = images(start, min(n, start + batch_size)).to(device)
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        out.append(extractor(batch).double().cpu())
        if advance is not None:
            advance(len(batch))
    return torch.cat(out)


def sample_quality(model: LatentModel, real_images: torch.Tensor, extractor: nn.Module,
                   samples: int, seed: int = 0, batch_size: int = 100,
                   advance: Callable[[int], None] | None = None) -> dict[str, Any]:
    """FID and KID of `samples` generated images (fresh from the prior, seeded) against up to
    `samples` real uint8 images (a seeded subset when there are more). `advance(count)` is
    called after each batch of images through the feature network, generated then real."""
    device = next(model.parameters()).device
    extractor = extractor.to(device)
    generator = torch.Generator().manual_seed(seed)
    if len(real_images) > samples:
        real_images = real_images[torch.randperm(len(real_images), generator=generator)[:samples]]

    def generated(start: int, stop: int) -> torch.Tensor:
        z, values = model.latent.sample(stop - start, generator)
        x = model.from_range(model.generate(z.to(device), [v.to(device) for v in values]).float())
        return x.mul(255).round().to(torch.uint8)

    with in_mode(model, train=False):
        fake = features(extractor, generated, samples, batch_size, device, advance)
    real = features(extractor, lambda a, b: real_images[a:b], len(real_images), batch_size, device,
                    advance)
    return {**distances(real, fake, seed=seed), "real": len(real), "generated": len(fake),
            "features": FEATURES, "weights": getattr(extractor, "weights", None),
            "official_weights": getattr(extractor, "official", False)}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
