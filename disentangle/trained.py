"""A trained run as one object, for notebooks and `disentangle sample`: generate images with chosen
codes, sweep one code, encode images back to codes.

    run = disentangle.load_run("runs/infogan-digits-…")
    images = run.generate(16, codes={"c1": 3, "c2": -1.5}, seed=0)  # (16, C, H, W) in [0, 1]
    codes = run.encode(images)                                     # {"c1": (16, 1), "c2": (16, 2)}

A code is named as in the run ("c1", "c2", …); one dimension of a multi-dimensional code as in
the traversal file names ("c2-1" is c2's first dimension). Codes left out are drawn from their
prior with the seed, as is the noise z, on the CPU: a seed gives the same images on any device.
"""

from __future__ import annotations

import numbers
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from disentangle.datasets import Dataset
from disentangle.errors import DisentangleError
from disentangle.latent import LatentCode
from disentangle.model import LatentModel
from disentangle.training.config import RunConfig

BATCH = 500  # images per forward pass
_SELECTOR = re.compile(r"^(?P<name>[^\s=-]+)(?:-(?P<dim>\d+))?$")
Values = float | int | Sequence[float]


@dataclass
class TrainedRun:
    """A run's config, its model from checkpoints/latest.pt (eval mode), its dataset (not yet
    loaded)."""

    path: Path
    config: RunConfig = field(repr=False)
    model: LatentModel = field(repr=False)  # its repr is every layer: dozens of lines
    dataset: Dataset = field(repr=False)
    image_shape: tuple[int, int, int]  # (C, H, W) the model generates and encodes

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def code_names(self) -> list[str]:
        return [c.name for c in self.model.latent.codes]

    # --- choosing latents ----------------------------------------------------------------------

    def find_code(self, selector: str) -> tuple[int, LatentCode, list[int]]:
        """'c2' -> (index, code, every dimension); 'c2-1' -> (index, code, [0])."""
        match = _SELECTOR.match(selector.strip())
        codes = self.model.latent.codes
        known = ", ".join(f"{c.name} ({c.spec})" for c in codes)
        found = next((i for i, c in enumerate(codes) if match and c.name == match["name"]), None)
        if found is None:
            raise DisentangleError(f"no code '{selector}' in this run; its codes are {known}")
        code = codes[found]
        if match["dim"] is None:
            return found, code, list(range(code.code.dims))
        dim = int(match["dim"])
        if not 1 <= dim <= code.code.dims:
            raise DisentangleError(f"code '{selector}': {code.name} ({code.spec}) has "
                                   f"{code.code.dims} dimension(s), numbered from 1")
        return found, code, [dim - 1]

    def latents(self, n: int, codes: Mapping[str, Values] | None = None,
                seed: int | None = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z (n, noise_dim) and per-code values (n, dims) on the CPU: drawn from the priors with
        `seed` (None = unseeded), then the chosen codes set."""
        return self._draw(n, self._chosen(codes), seed)

    def _draw(self, n: int, chosen: dict[tuple[int, int], tuple[str, float]],
              seed: int | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        n, seed = _integer("--n", n, least=1), None if seed is None else _integer("--seed", seed)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        z, values = self.model.latent.sample(n, generator)
        for (index, dim), (_, value) in chosen.items():
            values[index][:, dim] = value
        return z, values

    def _chosen(self, codes: Mapping[str, Values] | None
                ) -> dict[tuple[int, int], tuple[str, float]]:
        """{(code index, dimension): (selector, value)} for the chosen codes, checked; a
        dimension set twice (c2=1 with c2-1=0.5) is an error, not a silent last-one-wins."""
        chosen: dict[tuple[int, int], tuple[str, float]] = {}
        for selector, given in (codes or {}).items():
            index, code, dims = self.find_code(selector)
            for dim, value in zip(dims, _as_row(selector, given, len(dims))):
                _check_value(selector, code, value)
                if (index, dim) in chosen:
                    raise DisentangleError(f"--code {selector} sets {code.name} dimension "
                                           f"{dim + 1}, which --code {chosen[index, dim][0]} "
                                           "sets already; give it once")
                chosen[index, dim] = (selector, value)
        return chosen

    # --- images -------------------------------------------------------------------------------

    def decode(self, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
        """Generator output for given latents, as floats in [0, 1] on the CPU, (n, C, H, W):
        z (n, noise_dim) and one (n, dims) tensor or array per code, as `latents` gives them
        (edit those to give each image its own code values)."""
        return self._decode(*self._checked_latents(z, values))

    @torch.no_grad()  # a notebook's images are pictures, not a graph holding G's activations
    def _decode(self, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
        """`decode` for latents drawn and checked here (generate, traverse)."""
        out = []
        for start in range(0, z.shape[0], BATCH):
            part = [v[start:start + BATCH].to(self.device) for v in values]
            images = self.model.generate(z[start:start + BATCH].to(self.device), part)
            out.append(self.model.from_range(images.float()).cpu())
        return torch.cat(out)

    def _checked_latents(self, z, values) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """decode's inputs as float32 tensors of the run's widths, each code's values in its
        range; else one line saying which is wrong."""
        latent = self.model.latent
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != latent.noise_dim or len(z) == 0:
            raise DisentangleError(f"decode: z must be (n, {latent.noise_dim}) with n >= 1, got "
                                   f"{tuple(z.shape)}")
        if len(values) != len(latent.codes):
            raise DisentangleError(f"decode: give one value tensor per code "
                                   f"({', '.join(latent.specs())}), got {len(values)}")
        checked = []
        for code, given in zip(latent.codes, values):
            v = torch.as_tensor(given, dtype=torch.float32)
            if v.shape != (len(z), code.code.dims) or not torch.isfinite(v).all():
                raise DisentangleError(f"decode: {code.name} ({code.spec}) must be finite "
                                       f"({len(z)}, {code.code.dims}), got {tuple(v.shape)}")
            if code.code.discrete:
                allowed = _allowed(code)
                if not torch.isin(v, allowed).all():
                    shown = ", ".join(f"{a:g}" for a in allowed.tolist())
                    raise DisentangleError(f"decode: {code.name} ({code.spec}) takes {shown}")
            checked.append(v)
        return z, checked

    def generate(self, n: int = 1, codes: Mapping[str, Values] | None = None,
                 seed: int | None = 0) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1] with the chosen codes; see `latents`."""
        return self._decode(*self.latents(n, codes, seed))

    def traverse(self, code: str, n: int = 8, steps: int = 10,
                 codes: Mapping[str, Values] | None = None,
                 seed: int | None = 0) -> torch.Tensor:
        """A latent traversal, (n, S, C, H, W): each of n rows keeps its noise and other codes and
        sweeps one code dimension through its code type's `sweep` in `steps` values (uniform:
        -2..2; other continuous codes: the prior's 2nd..98th percentile, or a plugin's own;
        discrete: every value, whatever `steps`)."""
        index, latent_code, dims = self.find_code(code)
        if len(dims) != 1:
            names = " or ".join(f"{latent_code.name}-{d + 1}" for d in dims)
            raise DisentangleError(f"--traverse {code}: {latent_code.name} ({latent_code.spec}) "
                                   f"has {len(dims)} dimensions; name one: {names}")
        chosen = self._chosen(codes)
        if (index, dims[0]) in chosen:
            raise DisentangleError(f"--traverse {code} sweeps what --code "
                                   f"{chosen[index, dims[0]][0]} fixes; drop one of them")
        sweep = latent_code.code.sweep(_integer("--steps", steps, least=2))  # (S,)
        s = len(sweep)
        z, values = self._draw(n, chosen, seed)
        z = z.repeat_interleave(s, 0)
        values = [v.repeat_interleave(s, 0) for v in values]
        values[index][:, dims[0]] = sweep.repeat(n).to(values[index].dtype)
        images = self._decode(z, values)
        return images.view(n, s, *images.shape[1:])

    def encode(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Q's point estimate of every code for images (N, C, H, W), a tensor or an array:
        uint8 0..255 or floats in [0, 1], as `generate` returns them. Anything else (int64
        pixels, floats in 0..255 or [-1, 1]) is refused rather than misread. Categorical codes
        give the class index."""
        estimates, _, _ = self._encode(images, "encode")
        return dict(zip(self.code_names, estimates))

    def class_probabilities(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Q's class probabilities (N, K) of each categorical code, for images as `encode`
        takes them: what `disentangle eval` scores and saves as encoded.h5's `probs`."""
        _, heads, _ = self._encode(images, "class_probabilities")
        return {c.name: h.softmax(1) for c, h in zip(self.model.latent.codes, heads)
                if c.posterior.kind == "categorical"}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """D's trunk output (N, F) for images as `encode` takes them: what `eval --probe`'s
        "features" probe reads."""
        return self._encode(images, "features")[2]

    @torch.no_grad()
    def _encode(self, images, caller: str
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Checked images through Q and D in batches: per-code estimates, per-code head slices,
        trunk features, on the CPU."""
        images = self._checked_images(images, caller)
        low, high = self.model.output_range
        parts: list[tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]] = []
        for start in range(0, images.shape[0], BATCH):
            x = images[start:start + BATCH].to(self.device)
            x = self.model.to_range(x) if x.dtype == torch.uint8 else x.float() * (high - low) + low
            estimates, head, features = self.model.encode(x)
            parts.append(([e.cpu() for e in estimates],
                          [h.cpu() for h in self.model.latent.split_head(head)], features.cpu()))
        codes = range(len(self.code_names))
        return ([torch.cat([p[0][i] for p in parts]) for i in codes],
                [torch.cat([p[1][i] for p in parts]) for i in codes],
                torch.cat([p[2] for p in parts]))

    def _checked_images(self, images, caller: str) -> torch.Tensor:
        images = torch.as_tensor(images)
        expected = tuple(self.image_shape)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected or len(images) == 0:
            raise DisentangleError(f"{caller}: images must be (N, {', '.join(map(str, expected))})"
                                   f" with N >= 1, got {tuple(images.shape)}")
        if images.dtype != torch.uint8 and not images.is_floating_point():
            raise DisentangleError(f"{caller}: images must be uint8 (0..255) or floats in [0, 1], "
                                   f"got {images.dtype}; convert with .to(torch.uint8) or "
                                   ".float() / 255")
        if images.is_floating_point():
            low, high = float(images.min()), float(images.max())  # NaN fails both
            if not (low >= -1e-3 and high <= 1 + 1e-3):
                raise DisentangleError(
                    f"{caller}: float images must be in [0, 1], got values in [{low:g}, {high:g}]"
                    "; divide 0..255 pixels by 255, map [-1, 1] ones with (x + 1) / 2")
        return images


def _integer(flag: str, value, least: int = 0) -> int:
    """A count or seed given from Python: an int (numpy's too), at least `least`."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < least:
        raise DisentangleError(f"{flag} must be an integer >= {least}, got {value!r}")
    return number


def _as_row(selector: str, given: Values, dims: int) -> list[float]:
    """One value per selected dimension; a single number applies to every dimension. Numbers
    may be numpy's or 0-d/1-d arrays and tensors."""
    given = given.tolist() if hasattr(given, "tolist") else given  # numpy, torch -> Python
    row = [given] if isinstance(given, numbers.Real) else list(given) \
        if isinstance(given, Sequence) and not isinstance(given, str) else [None]
    if len(row) == 1:
        row = row * dims
    if len(row) != dims or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   for v in row):
        counts = "one number" if dims == 1 else f"one number or {dims} numbers"
        raise DisentangleError(f"code '{selector}': give {counts}, got {given!r}")
    return [float(v) for v in row]


def _allowed(code: LatentCode) -> torch.Tensor:
    """The values a discrete code takes: those its sweep lists (a class index, a bit)."""
    return code.code.sweep().float()


def _check_value(selector: str, code: LatentCode, value: float) -> None:
    """A discrete code takes only the values its sweep lists (a class index, a bit)."""
    if not torch.isfinite(torch.tensor(value)):
        raise DisentangleError(f"code '{selector}': {value} is not a finite number")
    if code.code.discrete:
        allowed = _allowed(code).tolist()
        if value not in allowed:
            shown = ", ".join(f"{v:g}" for v in allowed)
            raise DisentangleError(f"code '{selector}': {code.name} is {code.spec} and takes "
                                   f"{shown}; got {value:g}")


def parse_code_values(texts: Sequence[str]) -> dict[str, list[float]]:
    """Command-line 'c1=3', 'c2=-1.5', 'c2=0.5,-1', 'c2-1=0.3' -> {selector: numbers}."""
    chosen: dict[str, list[float]] = {}
    for text in texts:
        name, sep, rest = text.partition("=")
        try:
            numbers = [float(v) for v in rest.split(",")] if sep and rest.strip() else None
        except ValueError:
            numbers = None
        if not name.strip() or numbers is None:
            raise DisentangleError(f"--code {text}: write CODE=VALUE, e.g. --code c1=3 "
                                   "--code c2=-1.5 (several dimensions: c2=0.5,-1)")
        if name.strip() in chosen:
            raise DisentangleError(f"--code {name.strip()} is given twice; give it once")
        chosen[name.strip()] = numbers
    return chosen


def load_run(run_dir: Path | str | None = None,
             device: str | torch.device = "cpu") -> TrainedRun:
    """A trained run back as a TrainedRun (model in eval mode on `device`: auto, cpu, cuda).
    None = the most recent run under ./runs."""
    from disentangle.training.build import load_run as load_parts, resolve_device
    from disentangle.training.rundir import DEFAULT_ROOT, RunDir, latest_run

    path = Path(run_dir).expanduser() if run_dir is not None else latest_run(DEFAULT_ROOT)
    device = resolve_device(str(device))  # a torch.device is checked as its name is
    config, model, dataset = load_parts(path, device=device)
    _, shape, _ = RunDir(path).read_saved()
    return TrainedRun(path, config, model, dataset, shape)
