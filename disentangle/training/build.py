"""From a RunConfig to live objects: method, data, backbone, model. Shared by the trainer and by
`load_run`, which rebuilds a trained model for evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from disentangle.backbones import Backbone
from disentangle.codes import parse_code_spec
from disentangle.datasets import Dataset, ImageData
from disentangle.errors import DisentangleError
from disentangle.latent import Latent
from disentangle.methods import Method
from disentangle.model import LatentModel
from disentangle.registry import Registry, get_registry
from disentangle.training.checkpoint import load_checkpoint
from disentangle.training.config import FIELDS, METHOD_OPTIONS, RunConfig
from disentangle.training.rundir import DEFAULT_ROOT, RunDir, latest_run


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and name.split(":")[0] != "cuda":
        raise DisentangleError(f"--device {name}: unknown device; use auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DisentangleError(f"--device {name}: CUDA is not available here; use --device cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DisentangleError(f"--device {name}: not a device name; use auto, cpu or "
                               "cuda") from None
    return device


def method_parameters(method: str, registry: Registry | None = None) -> set[str]:
    """The RunConfig fields that `method`'s factory names as parameters (e.g. infogan-cr's
    cr_weight): the method options it takes."""
    import inspect

    factory = (registry or get_registry()).get("methods", method).component.factory
    try:
        return set(inspect.signature(factory).parameters) & set(FIELDS)
    except (TypeError, ValueError):
        return set()


def build_method(config: RunConfig, registry: Registry | None = None) -> Method:
    """The method with the run's options. q_trains_trunk and precision go to every method (None
    and fp32 are dropped so its defaults stand); any other RunConfig field goes to a method whose
    factory names it as a parameter, so methods take only what they use."""
    registry = registry or get_registry()
    accepted = method_parameters(config.method, registry)
    extra = {name: getattr(config, name) for name in accepted
             if name not in ("q_trains_trunk", "precision")}
    for name in METHOD_OPTIONS:
        if getattr(config, name) is not None and name not in accepted:
            flag = "--" + name.replace("_", "-")
            raise DisentangleError(f"{flag}: method '{config.method}' takes no such option "
                                   f"(see `disentangle run --help` for which method uses it)")
    return registry.create("methods", config.method, q_trains_trunk=config.q_trains_trunk,
                           precision=None if config.precision == "fp32" else config.precision,
                           **extra)


def build_latent(config: RunConfig, registry: Registry | None = None) -> Latent:
    registry = registry or get_registry()
    if config.noise_dim:  # z's prior is a config-file field, not a --code: say so
        try:
            registry.get("codes", config.noise)
        except DisentangleError as exc:
            raise DisentangleError(f"noise = {config.noise!r} (z's prior, a config-file "
                                   f"field): {exc}") from None
    try:
        return Latent.from_specs(config.codes, config.noise_dim, config.noise,
                                 config.lambda_discrete, config.lambda_continuous, registry)
    except DisentangleError as exc:
        raise DisentangleError(f"--code: {exc}") from None


def open_dataset(config: RunConfig, registry: Registry | None = None) -> Dataset:
    registry = registry or get_registry()
    return registry.create("datasets", config.dataset, image_size=config.image_size)


def load_data(config: RunConfig, registry: Registry | None = None,
              split: str | None = None) -> tuple[Dataset, ImageData]:
    """One split in memory; None = the dataset's training split."""
    dataset = open_dataset(config, registry)
    split = split or dataset.training_split
    data_dir = Path(config.data_dir).expanduser() if config.data_dir else None
    data = dataset.load(split, data_dir, config.download)
    if data.images.dtype != torch.uint8 or data.images.ndim != 4 or len(data) == 0:
        raise DisentangleError(f"dataset '{config.dataset}' gave {tuple(data.images.shape)} "
                               f"{data.images.dtype} images; expected uint8 (N, C, H, W), N > 0")
    if tuple(data.images.shape[1:]) != tuple(dataset.image_shape):  # else G and the data part
        raise DisentangleError(
            f"dataset '{config.dataset}' declares {'x'.join(map(str, dataset.image_shape))} "
            f"images (image_shape) but its '{split}' split holds "
            f"{'x'.join(map(str, data.images.shape[1:]))} ones: a bug in the dataset")
    return dataset, data


def choose_backbone(name: str | None, image_shape: tuple[int, int, int],
                    registry: Registry | None = None) -> tuple[str, Backbone]:
    """The named backbone, or the first (by name) whose default_for holds the image's (H, W)."""
    registry = registry or get_registry()
    c, h, w = image_shape
    if name is not None:
        backbone = registry.create("backbones", name)
        if not backbone.supports(image_shape):
            raise DisentangleError(f"backbone '{name}' does not support {c}x{h}x{w} images; pick "
                                   "another with --backbone or change --image-size")
        return name, backbone
    for entry in registry.list("backbones"):
        backbone = registry.create("backbones", entry.name)
        if (h, w) in tuple(backbone.default_for) and backbone.supports(image_shape):
            return entry.name, backbone
    known = ", ".join(registry.names("backbones")) or "none"
    raise DisentangleError(f"no backbone is the default for {h}x{w} images; name one with "
                           f"--backbone (known: {known}) or set --image-size to 28, 32 or 64")


def build_model(config: RunConfig, image_shape: tuple[int, int, int],
                registry: Registry | None = None) -> tuple[LatentModel, str]:
    """Fresh networks for the image shape, seeded by config.seed; returns the backbone's name.
    Only the CPU generator is seeded (the weights are drawn there): the CUDA generators are the
    training loop's to seed, so loading a run leaves a caller's GPU draws alone."""
    registry = registry or get_registry()
    latent = build_latent(config, registry)
    name, backbone = choose_backbone(config.backbone, image_shape, registry)
    torch.random.default_generator.manual_seed(config.seed)
    networks = backbone.build(tuple(image_shape), latent.input_width, latent.head_width)
    normalised = [networks.trunk, networks.d_head] if config.spectral_norm else []
    normalised += [networks.q_head] if config.q_spectral_norm else []
    for module in normalised:
        _spectral_norm(module)
    model = LatentModel(latent, networks, tuple(backbone.output_range))
    model.auxiliary.update(build_method(config, registry).auxiliary_networks(latent, image_shape))
    return model, name


def _spectral_norm(module: torch.nn.Module) -> None:
    """Divide every conv and linear weight of `module` by its largest singular value (one power
    iteration per training forward; Miyato et al. 2018). InfoGAN-CR's "modified InfoGAN" does so
    for all of D, Q's head included (`q_spectral_norm`); `--spectral-norm` alone leaves Q's head
    free, which learnt more reliably on 64-px shapes (docs/training.md)."""
    from torch.nn.utils.parametrizations import spectral_norm

    layers = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    for layer in [m for m in module.modules() if isinstance(m, layers)]:
        spectral_norm(layer)


def load_run(run_dir: Path | str | None = None, device: str | torch.device = "cpu",
             registry: Registry | None = None) -> tuple[RunConfig, LatentModel, Dataset]:
    """A trained run back: its config, the model from checkpoints/latest.pt (eval mode, on
    `device`), and its dataset (not yet loaded: call .load(split)). None = the latest run."""
    config, model, dataset, _ = load_run_and_step(run_dir, device, registry)
    return config, model, dataset


def load_run_and_step(run_dir: Path | str | None = None, device: str | torch.device = "cpu",
                      registry: Registry | None = None
                      ) -> tuple[RunConfig, LatentModel, Dataset, int]:
    """`load_run`'s three and the step of the checkpoint the weights came from (one read of
    checkpoints/latest.pt: a run training beside us cannot swap it between the two)."""
    run = RunDir.open(Path(run_dir) if run_dir is not None else latest_run(DEFAULT_ROOT))
    config, shape, _ = run.read_saved()
    check_components(config, run.config, registry)
    dataset = open_dataset(config, registry)
    with torch.random.fork_rng(devices=[]):  # build_model seeds the initial weights, which the
        model, _ = build_model(config, tuple(shape), registry)  # checkpoint replaces: leave the
    state = load_checkpoint(run.latest)  # caller's random state as it was
    _load_weights(model, state["model"], run.latest)
    return config, model.to(device).eval(), dataset, state["step"]


def check_components(config: RunConfig, where: Path, registry: Registry | None = None) -> None:
    """A saved run names its components by string. When a plugin that provided one has since
    been uninstalled (or disabled), say which component the run's config needs, not that some
    flag was wrong: the user gave no flag."""
    registry = registry or get_registry()
    # the method too: its auxiliary_networks are part of the saved weights
    wanted = [("methods", config.method), ("datasets", config.dataset)]
    wanted += [("backbones", config.backbone)] if config.backbone else []
    wanted += [("codes", config.noise)] if config.noise_dim else []
    for text in config.codes:
        spec = parse_code_spec(text)
        wanted.append(("codes", spec.kind))
        wanted += [("posteriors", spec.posterior)] if spec.posterior else []
    for kind, name in wanted:
        if name not in registry.names(kind):
            known = ", ".join(registry.names(kind)) or "none"
            raise DisentangleError(
                f"{where} needs {kind[:-1]} '{name}', which no loaded plugin provides (loaded "
                f"{kind}: {known}); install or enable the plugin that registers it "
                "(`disentangle plugins` lists what is loaded)")


def _load_weights(model: LatentModel, weights: dict[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:  # torch's header line, then one tab-indented line per problem
        lines = [line.strip() for line in str(exc).strip().splitlines()]
        first = next((line for line in lines[1:] if line), lines[0])
        more = len([line for line in lines[1:] if line]) - 1
        raise DisentangleError(
            f"{path} does not fit the networks its config.json describes: {first[:300]}"
            + (f" (and {more} more)" if more > 0 else "")
            + "; was the checkpoint or the config.json copied from another run?") from None
