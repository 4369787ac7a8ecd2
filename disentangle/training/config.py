"""The run configuration: one dataclass, per-dataset presets from the papers, and the precedence
preset < TOML file (--config) < command-line flags."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disentangle.codes import parse_code_spec
from disentangle.errors import DisentangleError

DEVICES = ("auto", "cpu", "cuda")
MAX_SEED = 2**63 - 1  # torch generators take 64 bits; seed + 1 seeds the pictures' generator
MAX_STEPS = 10**9
MAX_WIDTH = 2**16  # batch size, noise dimensions and code sizes: far beyond any sane run, and
# small enough that a too-large value fails here instead of as a huge allocation
MAX_IMAGE_SIZE = 4096
MAX_THREADS = 1024
PRECISIONS = ("fp32", "bf16")
DEFAULT_DATASET = "digits"


@dataclass
class RunConfig:
    """Everything that defines a training run; saved as config.json in the run directory."""

    method: str = "infogan"  # registered method: infogan or gan (or a plugin's)
    dataset: str = DEFAULT_DATASET  # registered dataset; trains on its training_split
    image_size: int | None = None  # resize to SIZE x SIZE; None = the dataset's own size
    data_dir: str | None = None  # where dataset files live; None = $DISENTANGLE_DATA_DIR or cache
    download: bool = False  # let the dataset fetch missing files
    backbone: str | None = None  # registered backbone; None = the one whose default_for fits
    codes: list[str] = field(default_factory=lambda: ["categorical:10", "uniform:2"])  # c specs
    noise_dim: int = 62  # incompressible noise z dimensions
    noise: str = "uniform"  # z's prior (a registered code type); U(-1, 1) as in the official code
    steps: int = 5000  # training iterations (one D step + one G step each)
    batch_size: int = 128  # images per step (real and fake each)
    lr_d: float = 2e-4  # Adam learning rate of D's trunk and real/fake head
    lr_g: float = 1e-3  # Adam learning rate of G and Q's head
    beta1: float = 0.5  # Adam beta1 (both optimisers)
    beta2: float = 0.999  # Adam beta2 (both optimisers)
    lambda_discrete: float = 1.0  # λ of every discrete code's information term
    lambda_continuous: float = 0.1  # λ of every continuous code's information term
    q_trains_trunk: bool | None = None  # Q's loss also trains D's trunk; None = method's default
    spectral_norm: bool = False  # spectral normalisation of D's trunk and real/fake head weights
    q_spectral_norm: bool = False  # ...and of Q's head (InfoGAN-CR's authors' networks have it)
    # None below = the method's own default (infogan/gan: 1 G step; infogan-cr: see its module)
    g_steps: int | None = None  # generator updates per iteration (InfoGAN-CR's code runs 2)
    q_optimizer: str | None = None  # which optimiser trains Q's head: g (lr_g) or d (lr_d) (g)
    q_augment: bool | None = None  # Q reads discrete codes from warped fakes (off; digits: on)
    q_augment_start: int | None = None  # step from which q_augment warps (0: from the first)
    cr_weight: float | None = None  # infogan-cr: α of the contrastive term once on (2)
    cr_start: int | None = None  # infogan-cr: step from which G gets α·CE; H trains throughout (0)
    cr_gap: float | None = None  # infogan-cr: initial gap between unshared U(-1, 1) codes (0)
    cr_gap_until: int | None = None  # infogan-cr: step at which the gap has fallen to 0 (0)
    cr_gap_stages: int | None = None  # infogan-cr: equal decreases of the gap until then (1)
    cr_pair_net: str | None = None  # infogan-cr: H's design, stacked or siamese (stacked)
    seed: int = 0  # seeds weights, latent sampling and batch order
    device: str = "auto"  # auto (cuda if available), cpu or cuda
    precision: str = "fp32"  # fp32, or bf16 autocast for the networks (losses stay fp32)
    threads: int | None = None  # torch CPU threads; None = the free cores on CPU (threads.py)
    out: str | None = None  # run directory; None = runs/<method>-<dataset>-<YYYYmmdd-HHMMSS>
    log_every: int = 50  # steps between metrics.jsonl lines
    checkpoint_every: int = 500  # steps between checkpoints (one is also written at the end)
    checkpoint_minutes: float = 5.0  # also checkpoint once this much wall time passed; 0 = off
    sample_every: int = 1000  # steps between image artefacts (also written at the end)
    score_every: int = 500  # steps between held-out scores in metrics.jsonl (0 = never; monitor)
    cuda_graph: bool | None = None  # replay the step as one CUDA graph (None: on CUDA if it can)
    tensorboard: bool = False  # also write TensorBoard events (scalars, pictures) in the run dir
    deterministic: bool = False  # GPU: only deterministic kernels (slower; CPU runs already are)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# RunConfig fields that only some methods take: setting one for a method without it is an error
METHOD_OPTIONS = ("g_steps", "q_optimizer", "q_augment", "q_augment_start", "cr_weight",
                  "cr_start", "cr_gap", "cr_gap_until", "cr_gap_stages", "cr_pair_net")

_MNIST_LIKE = {"codes": ["categorical:10", "uniform:2"], "noise_dim": 62}
_MODIFIED_INFOGAN = {  # InfoGAN-CR's tuned "modified InfoGAN" (Lin et al., ICML 2020)
    "codes": ["uniform:1"] * 5,  # five U(-1, 1) codes scored by a fixed-σ Gaussian
    "noise_dim": 5,
    "lambda_continuous": 0.05,
    "spectral_norm": True,
    "lr_g": 1e-3,
    "lr_d": 2e-3,
    "batch_size": 64,
}
# ...at 64 px with the authors' own small networks and their two G updates per D update, for
# every method alike (the dSprites recipe of fjxmlzn/InfoGAN-CR, CR switched off for InfoGAN)
# Q's head in D's Adam as in their code: on 64-px shapes, 4,000 steps, seeds 0-2, it beat Q in G's
# Adam on MIG, FactorVAE and BetaVAE for every seed (docs/training.md)
_SPRITES_64 = {**_MODIFIED_INFOGAN, "backbone": "sprites64", "g_steps": 2, "q_optimizer": "d"}

# Per-dataset starting points (Chen et al. 2016, appendix C; InfoGAN-CR for the factor datasets).
PRESETS: dict[str, dict[str, Any]] = {
    "mnist": dict(_MNIST_LIKE),
    "fashion-mnist": dict(_MNIST_LIKE),
    # 1,497 training digits: batch 64 gives twice the updates per image of the paper's 128;
    # warps from step 300 on gave the best held-out categories measured (higher on all ten
    # seeds), and with them 2,000 steps beat 1,000 on nine seeds of ten (docs/training.md,
    # "The digits preset")
    "digits": {**_MNIST_LIKE, "batch_size": 64, "steps": 2000, "q_augment": True,
               "q_augment_start": 300},
    "svhn": {"codes": ["categorical:10"] * 4 + ["uniform:1"] * 4, "noise_dim": 124},
    "celeba": {"codes": ["categorical:10"] * 10, "noise_dim": 128},
    "dsprites": dict(_SPRITES_64),
    "shapes": dict(_SPRITES_64),  # at 64 px (its default); name a backbone for --image-size 32
    "shapes3d": dict(_MODIFIED_INFOGAN),
}


# --- reading and checking values -----------------------------------------------------------------

def _describe(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is list:
        return "a list of strings"
    base = args[0] if args else tp
    name = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[base]
    return name + (" (or omitted)" if type(None) in typing.get_args(tp) else "")


def _coerce(name: str, value: Any, where: str) -> Any:
    """Check one value against RunConfig's field type; ints are accepted for floats."""
    tp = typing.get_type_hints(RunConfig)[name]
    optional = isinstance(tp, types.UnionType) and type(None) in typing.get_args(tp)
    if value is None and optional:
        return None
    base = [a for a in typing.get_args(tp) if a is not type(None)][0] if optional else tp
    ok = False
    if typing.get_origin(base) is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        value = list(value) if ok else value
    elif base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is str:
        if isinstance(value, os.PathLike) and name in ("out", "data_dir"):  # a Path from Python
            value = os.fspath(value)
        ok = isinstance(value, str)
    if not ok:
        raise DisentangleError(f"{where}: must be {_describe(tp)}, got {value!r}")
    return value


def _unknown(key: str, where: str) -> DisentangleError:
    guess = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return DisentangleError(f"{where}: unknown key '{key}'{hint}")


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML config file -> checked field values. Keys are RunConfig fields ('-' or '_')."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DisentangleError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DisentangleError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DisentangleError(f"config file {path} is not valid TOML: {exc}") from None
    values = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise _unknown(key, f"config file {path}")
        values[name] = _coerce(name, value, f"'{key}' in {path}")
    return values


def validate(config: RunConfig, label: Callable[[str], str] = str) -> RunConfig:
    """Type and range checks; one clear error for the first problem. `label(field)` names where a
    value came from in the message ('--steps', "'steps' in run.toml")."""
    for name in FIELDS:
        _coerce(name, getattr(config, name), label(name))

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            raise DisentangleError(f"{label(name)}: {message}, got {getattr(config, name)!r}")

    def within(name: str, low: float, high: float | None = None) -> None:
        """low <= value <= high, finite; the message states the allowed range."""
        value = getattr(config, name)
        if value is None:
            return
        finite = isinstance(value, int) or math.isfinite(value)  # a huge int overflows isfinite
        ok = finite and value >= low and (high is None or value <= high)
        allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
        need(ok, name, f"must be {allowed}" + ("" if isinstance(value, int) else " (finite)"))

    within("steps", 1, MAX_STEPS)
    need(config.batch_size >= 2, "batch_size", "must be at least 2 (batch norm needs 2)")
    within("batch_size", 2, MAX_WIDTH)
    within("noise_dim", 0, MAX_WIDTH)
    within("seed", 0, MAX_SEED)
    for name in ("lr_d", "lr_g"):
        need(math.isfinite(getattr(config, name)) and getattr(config, name) > 0, name,
             "must be positive and finite")
    for name in ("beta1", "beta2"):
        need(0 <= getattr(config, name) < 1, name, "must be in [0, 1)")
    for name in ("lambda_discrete", "lambda_continuous"):
        within(name, 0)

    def unset_or(name: str, ok: Callable[[Any], bool], message: str) -> None:
        value = getattr(config, name)
        need(value is None or ok(value), name, message)

    within("g_steps", 1, 1000)
    within("q_augment_start", 0, MAX_STEPS)
    need(not config.q_augment_start or config.q_augment, "q_augment_start",
         "is the step from which q_augment warps; it needs q_augment on")
    unset_or("q_optimizer", lambda v: v in ("g", "d"), "must be g or d")
    unset_or("cr_weight", lambda v: math.isfinite(v) and v >= 0, "must be a finite number >= 0")
    within("cr_start", 0, MAX_STEPS)
    unset_or("cr_gap", lambda v: 0 <= v < 2, "must be in [0, 2): the width of U(-1, 1) bounds it")
    within("cr_gap_until", 0, MAX_STEPS)
    within("cr_gap_stages", 1, MAX_STEPS)
    unset_or("cr_pair_net", lambda v: v in ("stacked", "siamese"), "must be stacked or siamese")
    for name in ("log_every", "checkpoint_every", "sample_every"):
        within(name, 1, MAX_STEPS)
    within("score_every", 0, MAX_STEPS)
    within("checkpoint_minutes", 0)
    within("image_size", 4, MAX_IMAGE_SIZE)
    within("threads", 1, MAX_THREADS)
    need(config.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
    need(config.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
    need(len(config.codes) >= 1, "codes", "needs at least one code (Q measures every code)")
    for spec in config.codes:
        try:
            size = parse_code_spec(spec).size
        except DisentangleError as exc:
            raise DisentangleError(f"{label('codes')}: {exc}") from None
        if size > MAX_WIDTH:
            raise DisentangleError(f"{label('codes')}: code size {size} in '{spec}' is too "
                                   f"large; sizes must be between 1 and {MAX_WIDTH}")
    return config


def preset_for(dataset: str) -> dict[str, Any]:
    """PRESETS[dataset] for a built-in dataset, else the dataset plugin's `preset` attribute."""
    if not isinstance(dataset, str):
        return {}  # not a name: validation says what it must be
    if dataset in PRESETS:
        return dict(PRESETS[dataset])
    from disentangle.registry import get_registry

    try:
        preset = dict(getattr(get_registry().create("datasets", dataset), "preset", {}) or {})
    except DisentangleError:
        return {}  # an unknown dataset: validation says so, with the names it knows
    for key in preset:
        if key not in FIELDS:
            raise DisentangleError(f"dataset '{dataset}': its preset sets unknown option '{key}' "
                                   f"(known: {', '.join(sorted(FIELDS))})")
    return preset


def option_label(name: str) -> str:
    """How a field is spelt on the command line."""
    return {"codes": "--code"}.get(name, "--" + name.replace("_", "-"))


def resolve(method: str, overrides: dict[str, Any] | None = None,
            config_file: str | Path | None = None) -> RunConfig:
    """Preset for the dataset < TOML file < overrides (None values are dropped)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in FIELDS:
            raise _unknown(key, "options")
    from_file = load_toml(config_file) if config_file is not None else {}
    dataset = overrides.get("dataset", from_file.get("dataset", DEFAULT_DATASET))
    preset = preset_for(dataset)
    values: dict[str, Any] = {"dataset": dataset, **preset, **from_file}
    if from_file.get("method", method) != method:
        raise DisentangleError(
            f"'method' in {config_file} is '{from_file['method']}' but the command trains "
            f"'{method}'; the method is the argument of `disentangle run METHOD`: drop the key "
            f"or run `disentangle run {from_file['method']}`")
    values["method"] = method
    # the file's values are checked first, so that a message names the file
    from_preset, base = set(preset) - set(from_file), RunConfig(**values)
    validate(_fit_preset(base, from_preset),
             lambda n: f"'{n}' in {config_file}" if n in from_file else n)
    changes = {name: _coerce(name, value, option_label(name)) for name, value in overrides.items()}
    return validate(_fit_preset(base.replace(**changes), from_preset - set(changes)), option_label)


def _fit_preset(config: RunConfig, from_preset: set[str]) -> RunConfig:
    """A preset is the dataset's recipe for the methods and codes it was measured with; its method
    options are dropped where this run cannot take them, as its codes are when --code names
    others: an option the method has no parameter for (a plugin method on `shapes`), q_augment
    where no code is discrete, q_augment_start where q_augment ends up off. What a file or flag
    sets is kept, so a wrong choice there is still an error."""
    from disentangle.registry import get_registry  # the registry loads plugins: only when needed
    from disentangle.training.build import method_parameters

    options = from_preset & set(METHOD_OPTIONS)
    if not options:
        return config
    registry = get_registry()
    try:
        taken = method_parameters(config.method, registry)
        specs = [parse_code_spec(text) for text in config.codes]
        discrete = any(registry.create("codes", spec.kind, spec.size).discrete for spec in specs)
    except DisentangleError:
        return config  # an unknown method or code: building the run says which
    drop = {name for name in options if name not in taken}
    if "q_augment" in options and not discrete:
        drop.add("q_augment")
    if "q_augment_start" in options and (not config.q_augment or "q_augment" in drop):
        drop.add("q_augment_start")
    return config.replace(**dict.fromkeys(drop))


def absolute_data_dir(data_dir: str | Path | None) -> str | None:
    """A data directory as a run saves it in config.json: absolute, with ~ expanded, so that
    `disentangle eval` and `select` read the run's own files from whatever directory they are
    started in. None (the default place: $DISENTANGLE_DATA_DIR or the user cache) stays None."""
    if data_dir is None or data_dir == "":  # "" reads as unset wherever a run reads it
        return data_dir
    return str(Path(data_dir).expanduser().resolve())


def from_json(data: dict[str, Any], where: str = "config.json") -> RunConfig:
    """A saved config back; unknown keys are an error naming the file, and so is a config without
    the method or dataset every run saves (a field added later takes its default)."""
    for key in data:
        if key not in FIELDS:
            raise _unknown(key, where)
    for key in ("method", "dataset"):
        if key not in data:
            raise DisentangleError(f"{where} does not say which {key} the run used (no '{key}'); "
                                   "is it a disentangle run?")
    values = {name: _coerce(name, value, f"'{name}' in {where}") for name, value in data.items()}
    return validate(RunConfig(**values), lambda n: f"'{n}' in {where}")


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
