"""`disentangle eval`: encode a dataset with a trained run's Q and D, then measure everything that
applies to it — the MI bound per code, code-label agreement, linear probes, and the
disentanglement metrics where the data has ground-truth factors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disentangle.datasets import ImageData
from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import GAP_DIMS
from disentangle.evaluation.progress import Stages
from disentangle.model import LatentModel
from disentangle.training import artefacts


@dataclass
class EvalConfig:
    split: str = "test"  # split whose codes are scored; probes train on 'train'
    n: int | None = None  # at most this many points per split (None = all)
    train_points: int | None = 10_000  # cap on the train split (dl's 10,000 training points)
    probe: bool = False  # linear probes (codes, D features, pixels)
    mi: bool = True  # MI bound on fresh samples and the code-factor MI matrix
    metrics: bool = True  # disentanglement metrics where the dataset has factors
    bound_samples: int = 5000  # generator samples for the MI lower bound
    budgets: tuple[int | None, ...] = (10, 100, 1000, None)  # labelled points per class
    probe_inputs: tuple[str, ...] = ("codes", "features", "pixels")  # what the probes read
    probe_dims: int | None = 128  # wider probe inputs: their top principal components (None: all)
    probe_max_iter: int = 100  # lbfgs iterations per probe fit (scikit-learn's default)
    intervention_points: int = 10_000  # FactorVAE/BetaVAE training votes (dl's); half to test
    intervention_pool: int | None = 10_000  # encoded grid points votes draw from; None: render
    #                                         every batch afresh, as dl does (hours on a CPU)
    dci_model: str = "gbt"  # disentanglement_lib's gradient-boosted trees, or "random_forest"
    batch_size: int = 1000  # images encoded per forward pass
    jobs: int | None = -1  # probes' worker processes, GBT DCI's threads (-1: every core)
    seed: int = 0
    device: str = "auto"  # auto = cuda when available
    fid: bool = False  # FID and KID of generated images against `split` (evaluation/quality.py)
    fid_samples: int = 10000  # generated images, and at most as many real ones, for FID and KID
    fid_weights: str | None = None  # Inception weights file; None = the cache directory's copy
    download: bool = False  # fetch the Inception weights when they are missing (never data)
    data_dir: str | None = None  # read the run's data here; None = the data_dir in config.json
    timings: dict[str, float] = field(default_factory=dict, repr=False)


RENDER_CHUNK = 4096  # factor rows rendered and encoded at a time

# What `disentangle eval --quick` changes (docs/metrics.md lists it): fewer points everywhere and
# the forest DCI; every other definition stays. Its numbers are for a quick look, not a paper.
# `n` caps the train split too (with train_points), so a given --n lifts both caps.
QUICK = dict(n=2000, bound_samples=1000, intervention_points=1000,
             intervention_pool=4000, budgets=(10, 100, None), probe_inputs=("codes",),
             dci_model="random_forest")


@dataclass
class Encoded:
    """One split encoded: per-code point estimates, their concatenation, D features."""

    codes: list[np.ndarray]  # per code (N, dims)
    probs: dict[str, np.ndarray]  # categorical codes: class probabilities (N, K)
    features: np.ndarray  # (N, F) D's trunk
    data: ImageData

    @cached_property  # every metric reads it: concatenated once
    def flat(self) -> np.ndarray:
        return np.concatenate(self.codes, axis=1)  # (N, total dims)

    def probe_input(self, names: list[str]) -> np.ndarray:
        """Codes as a probe sees them: class probabilities for categorical codes, else values."""
        parts = [self.probs.get(n, c) for n, c in zip(names, self.codes)]
        return np.concatenate(parts, axis=1)


@torch.no_grad()
def encode(model: LatentModel, data: ImageData, batch_size: int = 1000,
           advance: Callable[[int], None] | None = None) -> Encoded:
    """Codes, class probabilities and D features of every image, ``batch_size`` at a time."""
    device = next(model.parameters()).device
    codes, probs, features = [], [], []
    categorical = [c.name for c in model.latent.codes if c.posterior.kind == "categorical"]
    for start in range(0, len(data), batch_size):
        x = model.to_range(data.images[start:start + batch_size].to(device))
        estimates, head, feats = model.encode(x)
        codes.append([e.cpu() for e in estimates])
        heads = dict(zip([c.name for c in model.latent.codes], model.latent.split_head(head)))
        probs.append({n: heads[n].softmax(1).cpu() for n in categorical})
        features.append(feats.cpu())
        if advance is not None:
            advance(x.shape[0])
    per_code = [torch.cat([b[i] for b in codes]).numpy() for i in range(len(model.latent.codes))]
    features = torch.cat(features).numpy()
    refuse_not_finite("D's features", features)  # first: Q's head reads them
    for latent_code, estimates in zip(model.latent.codes, per_code):
        refuse_not_finite(f"Q's estimates of {latent_code.name}", estimates)
    probs = {n: torch.cat([p[n] for p in probs]).numpy() for n in categorical}
    for name, p in probs.items():  # a class index is finite even where its logits are not
        refuse_not_finite(f"Q's class probabilities of {name}", p)
    return Encoded(
        codes=per_code,
        probs=probs,
        features=features,
        data=data,
    )


def refuse_not_finite(what: str, values: np.ndarray | torch.Tensor) -> None:
    """Said where the values are made, naming them, rather than as a bare "codes contain NaN"
    from whichever metric reads them first (select's centrality checks G's images with it, on
    their device)."""
    finite = torch.isfinite(values) if isinstance(values, torch.Tensor) else np.isfinite(values)
    bad = ~finite.reshape(len(values), -1).all(1)
    if isinstance(bad, torch.Tensor):
        bad = bad.cpu().numpy()
    if bad.any():
        raise DisentangleError(
            f"{what} are NaN or infinite for {int(bad.sum())} of {len(values)} images encoded "
            f"together (the first at position {int(np.argmax(bad))} of them): the checkpoint's "
            "networks overflow on them, so this checkpoint cannot be scored")


def save_encoded(path: Path, names: list[str], encoded: dict[str, Encoded], step: int) -> None:
    """Written with eval.json, at the end, through `atomic_write` (one temporary file per
    process, a disk-full error in one line), and stamped with the checkpoint step it encodes:
    an interrupted or concurrent eval cannot leave it out of step with eval.json."""
    from disentangle.training.rundir import atomic_write

    atomic_write(path, lambda fh: _write_encoded(fh, names, encoded, step))


def _write_encoded(fh, names: list[str], encoded: dict[str, Encoded], step: int) -> None:
    import h5py

    with h5py.File(fh, "w") as f:
        f.attrs["step"] = step
        for split, enc in encoded.items():
            group = f.create_group(split)
            group.attrs["code_names"] = names
            for name, values in zip(names, enc.codes):
                group.create_dataset(f"codes/{name}", data=values)
            for name, p in enc.probs.items():
                group.create_dataset(f"probs/{name}", data=p)
            group.create_dataset("features", data=enc.features, compression="gzip")
            for key in ("labels", "factors", "attributes"):
                value = getattr(enc.data, key)
                if value is not None:
                    group.create_dataset(key, data=value.numpy())


def run_data_dir(run_config, override: str | Path | None = None) -> Path | None:
    """Where `eval` and `select` read a run's data: `override` (their --data-dir) when given, else
    the data_dir saved in the run's config.json (absolute; an older run's relative one is read
    from the current directory, as it always was). None: the default place."""
    chosen = override if override is not None else getattr(run_config, "data_dir", None)
    return Path(chosen).expanduser() if chosen else None


def data_dir_read(dataset, data_dir: Path | None) -> str | None:
    """The absolute folder a file-based dataset reads for `data_dir` (None: $DISENTANGLE_DATA_DIR
    or the user cache), as eval.json and selection.json record it; None for an embedded dataset
    (`needs_files` False), which has no data dir."""
    if not getattr(dataset, "needs_files", True):
        return None
    from disentangle.data import resolve_data_dir

    return str(resolve_data_dir(data_dir).resolve())


@contextlib.contextmanager
def reading_run_data(command: str) -> Iterator[None]:
    """A run's data files not found: say to point `command` at them with --data-dir instead of
    the loader's `--download`, which `disentangle run` has and `eval` and `select` do not use for
    data (eval's fetches the FID weights only)."""
    from disentangle.data import DataNotFound

    try:
        yield
    except DataNotFound as exc:
        if exc.fetch is None:
            raise
        own = "its --download fetches only the FID weights" if command == "eval" else \
            "it downloads no data"
        raise DisentangleError(f"{exc.missing}; {exc.how}; or give `disentangle {command}` "
                               f"the folder that holds the run's data with --data-dir DIR "
                               f"({own})") from None


def evaluate_run(run_dir: Path, cfg: EvalConfig, show_progress: bool = False) -> dict[str, Any]:
    """Encode, measure, and write RUN/eval.json (plus encoded.h5 and figures); returns the dict.

    ``show_progress`` draws one progress line per stage on stderr. Two evals of one run at once
    are refused (the second at once, not after its work): their files would mix."""
    from disentangle.training.rundir import RunDir

    check_options(cfg)
    with RunDir.open(Path(run_dir)).eval_lock(), Stages(cfg.timings, show_progress) as stages:
        return _evaluate(run_dir, cfg, stages)


def check_options(cfg: EvalConfig) -> None:
    """Every option checked before any work starts, so a typo costs a second, not an evaluation
    that fails after encoding (those that depend on the run's dataset: `check_data_options`)."""
    from disentangle.evaluation.dci import MODELS

    if cfg.dci_model not in MODELS:
        raise DisentangleError(f"--dci-model {cfg.dci_model}: unknown model; use one of "
                               f"{', '.join(MODELS)}")
    for flag, value, least in (("--n", cfg.n, 1), ("--bound-samples", cfg.bound_samples, 1),
                               ("--intervention-points", cfg.intervention_points, 2),
                               ("--probe-max-iter", cfg.probe_max_iter, 1)):
        if value is not None and value < least:
            raise DisentangleError(f"{flag} {value}: must be at least {least}")


def check_data_options(cfg: EvalConfig, dataset) -> None:
    """The options that depend on the run's dataset, once it is known: the split, the pool."""
    for split in dict.fromkeys(("train", cfg.split)):
        if split not in dataset.splits:
            raise DisentangleError(f"dataset '{dataset.name}' has no split '{split}' "
                                   f"(it has {', '.join(dataset.splits)}); pass --split")
    if cfg.metrics and cfg.intervention_pool and dataset.factors:
        _check_pool(cfg, np.array([f.size for f in dataset.factors])[varying_factors(dataset)])


def varying_factors(dataset) -> np.ndarray:
    """Boolean (K,): the factors that take more than one value. A factor with one value
    (dSprites' colour) is no factor of variation: every factor measure leaves it out, as
    disentanglement_lib's dSprites leaves colour out of its factors."""
    return np.array([f.size > 1 for f in dataset.factors], dtype=bool)


def _check_pool(cfg: EvalConfig, sizes: np.ndarray) -> None:
    """The intervention pool is drawn first from the seed's stream (`_interventions`), so its
    rows are known now: FactorVAE fixes every value of every factor and BetaVAE pairs two points
    sharing one, so each value needs two points. Said now, not after every other metric."""
    from disentangle.evaluation._sampling import random_factors

    rows = random_factors(np.random.default_rng(cfg.seed), sizes, (cfg.intervention_pool,))
    for k, size in enumerate(sizes):
        counts = np.bincount(rows[:, k], minlength=size)
        if counts.min() < 2:
            raise DisentangleError(
                f"--intervention-pool {cfg.intervention_pool}: the pool holds "
                f"{int(counts.min())} point(s) with factor {k} = {int(counts.argmin())} (of "
                f"{size} values), and every value needs two; give a larger pool (the default "
                "is 10000) or 0 to render every batch afresh")


def _evaluate(run_dir: Path, cfg: EvalConfig, stages: Stages) -> dict[str, Any]:
    """Each measure that applies to the run's data, in the order eval.json lists them; the
    figures are drawn and every file written only at the end (`_save`)."""
    from disentangle.evaluation import quality
    from disentangle.training.build import load_run_and_step, resolve_device

    run_config, model, dataset, step = load_run_and_step(run_dir,
                                                         device=resolve_device(cfg.device))
    check_data_options(cfg, dataset)
    extractor = quality.load_extractor(cfg.fid_weights, cfg.download) if cfg.fid else None
    data_dir = run_data_dir(run_config, cfg.data_dir)
    names = [c.name for c in model.latent.codes]
    figures: list[Callable[[], object]] = []  # drawn at the end: an interrupted eval changes none
    result: dict[str, Any] = {"run": str(run_dir), "step": step,  # the checkpoint's (compare)
                              "dataset": dataset.name,
                              "data_dir": data_dir_read(dataset, data_dir), "split": cfg.split}
    if cfg.split in ("train", dataset.training_split):  # shapes' grid holds its train sample
        result["in_sample"] = (f"the {cfg.split} split holds the train points that the probes, "
                               "DCI, SAP and explicitness are fitted on: their scores here are "
                               "training scores, not held-out ones")
    encoded = _encode_splits(model, dataset, data_dir, cfg, stages)
    train, test = encoded["train"], encoded["test"]
    result["codes"] = _code_entries(model, cfg, stages)
    if extractor is not None:
        real = dataset.load(cfg.split, data_dir).images
        total = cfg.fid_samples + min(cfg.fid_samples, len(real))  # generated + real images
        with stages.stage("fid_kid", total=total) as advance:  # images through Inception
            result["sample_quality"] = quality.sample_quality(
                model, real, extractor, cfg.fid_samples, cfg.seed, advance=advance)
    if test.data.labels is not None and test.probs:
        matched = _clusters(run_dir, model, dataset, test, result, cfg, stages, figures)
        figures.append(partial(artefacts.redraw_class_traversals, run_dir, run_config, model,
                               dataset, matched, step))
    if cfg.probe:
        result.update(_probe_results(train, test, names, dataset, cfg, stages))
    if dataset.factors and test.data.factors is not None:
        result.update(_factor_measures(run_dir, model, dataset, data_dir, train, test, cfg,
                                       stages, figures))
    return _save(run_dir, result, cfg, stages, figures, names, encoded, step)


def _encode_splits(model: LatentModel, dataset, data_dir: Path | None, cfg: EvalConfig,
                   stages: Stages) -> dict[str, Encoded]:
    """The codes, Q's class probabilities and D's features of the train split (capped at
    `train_points`: probes and metrics train on it) and of the scored split."""
    loaded = {}
    with stages.stage("load data"), reading_run_data("eval"):
        for role, split in {"train": "train", "test": cfg.split}.items():
            cap = cfg.n if role == "test" else _smaller(cfg.n, cfg.train_points)
            loaded[role] = dataset.load(split, data_dir).subset(cap, cfg.seed)
    with stages.stage("encode", total=sum(len(d) for d in loaded.values())) as advance:
        return {role: encode(model, data, cfg.batch_size, advance)
                for role, data in loaded.items()}


def _code_entries(model: LatentModel, cfg: EvalConfig, stages: Stages) -> dict[str, Any]:
    """eval.json's `codes`: each code's type, entropy and reachable bound, and the MI lower bound
    from fresh samples (`cfg.mi`), as a fraction of the entropy where the code is discrete."""
    codes: dict[str, Any] = {}
    for latent_code in model.latent.codes:
        code = latent_code.code
        codes[latent_code.name] = {"type": latent_code.spec, "entropy": code.entropy(),
                                   "differential": code.differential,
                                   "reachable_bound": artefacts.reachable_bound(latent_code)}
    if cfg.mi:
        with stages.stage("mi_lower_bound"):
            device = next(model.parameters()).device
            generator = torch.Generator(device=device).manual_seed(cfg.seed)
            bounds = model.information_bound(cfg.bound_samples, cfg.batch_size, generator)
        for entry, bound in zip(codes.values(), bounds):
            entry["mi_lower_bound"] = bound
            if not entry["differential"]:
                entry["bound_ratio"] = bound / entry["entropy"]
    return codes


def _clusters(run_dir: Path, model: LatentModel, dataset, test: Encoded,
              result: dict[str, Any], cfg: EvalConfig, stages: Stages,
              figures: list[Callable[[], object]]) -> dict[str, dict[int, int]]:
    """Each categorical code's clusters against the labels, read through Q and through G's
    categories (generator_classes.py), into `result`; the best code is the run's
    `cluster_accuracy`. Returns each code's cluster-to-class matching."""
    from disentangle import evaluation as ev
    from disentangle.evaluation import generator_classes

    codes, labels = result["codes"], test.data.labels.numpy()
    names = [c.name for c in model.latent.codes]
    with stages.stage("cluster"):
        best, matched = None, {}
        for name, probs in test.probs.items():
            pred = probs.argmax(1)
            accuracy = ev.cluster_accuracy(pred, labels)
            codes[name].update(cluster_accuracy=accuracy, **ev.label_mi(pred, labels))
            matched[name] = ev.matching(pred, labels)
            if best is None or accuracy > codes[best]["cluster_accuracy"]:
                best = name
        result.update(cluster_accuracy=codes[best]["cluster_accuracy"],
                      nmi=codes[best]["nmi"], cluster_code=best)
        pred = test.probs[best].argmax(1)
        classes = [artefacts.class_name(dataset, k) for k in np.unique(labels)]
        figures.append(partial(
            ev.save_confusion, ev.confusion(pred, labels), run_dir / "confusion.png",
            f"{best}'s clusters against the classes ({cfg.split} split)",
            row_names=np.unique(pred), col_names=classes))
    total = sum(p.shape[1] for p in test.probs.values()) * generator_classes.PER_CLASS
    with stages.stage("generator clusters", total=total) as advance:
        real = test.data.images.float().div(255).flatten(1).numpy()
        for name in test.probs:
            images = generator_classes.images_by_value(
                model, names.index(name), seed=cfg.seed, batch_size=cfg.batch_size,
                advance=advance)
            codes[name]["generator_cluster_accuracy"] = ev.generator_cluster_accuracy(
                images, real, labels)
        result["generator_cluster_accuracy"] = codes[best]["generator_cluster_accuracy"]
    return matched


def _probe_results(train: Encoded, test: Encoded, names: list[str], dataset, cfg: EvalConfig,
                   stages: Stages) -> dict[str, Any]:
    """eval.json's `probe` (to the class label), `probe_factors` (to each ground-truth factor
    that varies in the train split) and `probe_inputs` (what wide inputs were reduced to)."""
    targets = {}  # what the probes predict: the class label, then each ground-truth factor
    if test.data.labels is not None and train.data.labels is not None:
        targets["label"] = (train.data.labels.numpy(), test.data.labels.numpy())
    if dataset.factors and train.data.factors is not None and test.data.factors is not None:
        for k, factor in enumerate(dataset.factors):
            y_train = train.data.factors[:, k].numpy()
            if np.unique(y_train).size > 1:  # a factor fixed in this split has nothing to find
                targets[factor.name] = (y_train, test.data.factors[:, k].numpy())
    if not targets:
        return {}
    out: dict[str, Any] = {}
    probes, widths = _probes(train, test, names, targets, cfg, stages)
    if widths:
        out["probe_inputs"] = widths
    if "label" in probes:
        out["probe"] = probes.pop("label")
    if probes:
        out["probe_factors"] = probes
    return out


def _factor_measures(run_dir: Path, model: LatentModel, dataset, data_dir: Path | None,
                     train: Encoded, test: Encoded, cfg: EvalConfig, stages: Stages,
                     figures: list[Callable[[], object]]) -> dict[str, Any]:
    """Against the ground-truth factors that vary: the code-factor MI matrix (`cfg.mi`) and the
    disentanglement metrics (`cfg.metrics`), with the definitions eval.json states."""
    from disentangle import evaluation as ev

    out: dict[str, Any] = {}
    varying = varying_factors(dataset)
    if not varying.all():
        out["factors_left_out"] = [f.name for f, v in zip(dataset.factors, varying) if not v]
    factor_names = [f.name for f, v in zip(dataset.factors, varying) if v]
    names = [c.name for c in model.latent.codes]
    code_columns = [f"{n}[{j}]" if c.shape[1] > 1 else n
                    for n, c in zip(names, test.codes) for j in range(c.shape[1])]
    factors_test = test.data.factors.numpy()[:, varying]
    factors_train = train.data.factors.numpy()[:, varying]
    if cfg.mi:
        with stages.stage("mi_matrix"):
            matrix = ev.mi_matrix(test.flat, factors_test)
        out["mi_matrix"] = {"codes": code_columns, "factors": factor_names,
                            "nats": matrix.tolist()}
        figures.append(partial(ev.save_heatmap, matrix, code_columns, factor_names,
                               run_dir / "mi_matrix.png",
                               "code-factor mutual information (nats)"))
    if cfg.metrics:
        out["disentanglement"], dci_definition = _disentanglement(
            model, dataset, data_dir, train, test, factors_train, factors_test, cfg, stages)
        out["definitions"] = {
            "sap": "codes standardised with the training mean and std (docs/metrics.md)",
            "sap_raw": "disentanglement_lib's SAP, on raw codes",
            "dci": dci_definition,
            "interventions": (f"FactorVAE and BetaVAE batches drawn from a pool of "
                              f"{cfg.intervention_pool} encoded grid points"
                              if cfg.intervention_pool else
                              "FactorVAE and BetaVAE batches rendered afresh, as dl does"),
        }
        if test.flat.shape[1] < GAP_DIMS:
            out["definitions"]["mig"] = ("null: MIG and SAP are gaps between a factor's two "
                                         "best code dimensions, and this run's codes have one")
    return out


def _save(run_dir: Path, result: dict[str, Any], cfg: EvalConfig, stages: Stages,
          figures: list[Callable[[], object]], names: list[str], encoded: dict[str, Encoded],
          step: int) -> dict[str, Any]:
    """eval.json (with the timings, versions and options), encoded.h5 and the figures, written
    once everything is measured and renamed into place together; if they cannot be (a disk that
    filled while eval measured), the previous eval's files stay as they were and `NotSaved`
    carries the result so the caller can still show it."""
    from disentangle.training.rundir import atomic_write_text, versions, written_together

    result["timings_s"] = dict(cfg.timings)
    result["cpu_s"] = dict(stages.cpu)
    result["versions"] = versions()
    result["eval_config"] = {k: v for k, v in asdict(cfg).items() if k != "timings"}
    text = json.dumps(result, indent=2, default=_json_default)
    try:
        with written_together():  # all of them or, on a full disk, none: the last eval's stay
            for draw in figures:
                draw()
            save_encoded(run_dir / "encoded.h5", names, encoded, step)
            atomic_write_text(run_dir / "eval.json", text)
    except DisentangleError as exc:
        raise NotSaved(str(exc), json.loads(text)) from None
    return json.loads(text)


class NotSaved(DisentangleError):
    """The measures were made but eval.json could not be written; `result` holds them, so the
    caller can still show minutes of work."""

    def __init__(self, message: str, result: dict[str, Any]):
        super().__init__(message)
        self.result = result


def _smaller(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _probes(train: Encoded, test: Encoded, names: list[str],
            targets: dict[str, tuple[np.ndarray, np.ndarray]], cfg: EvalConfig, stages: Stages
            ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Linear probes from the codes, D's features and raw pixels to each target, per budget;
    also what each wide input was reduced to (``probe_dims`` principal components)."""
    from disentangle.evaluation.probes import budget_subsets

    # each budget's subset and CV seed, drawn as linear_probe draws them; a budget whose subset
    # an earlier one already has is not fitted again
    plans = {target: budget_subsets(y_train, cfg.budgets, cfg.seed)
             for target, (y_train, _) in targets.items()}
    budgets = [(target, label, subset, split_seed) for target, plan in plans.items()
               for label, subset, split_seed, first in plan if first == label]
    with stages.stage("probe inputs"):  # pixels and D's features to principal components
        inputs, widths = _probe_inputs(train, test, names, cfg)
    with stages.stage("probe", total=len(budgets) * len(cfg.probe_inputs)) as advance:
        done = _fit_probes(inputs, targets, budgets, cfg, advance)
    out: dict[str, dict[str, Any]] = {target: {} for target in targets}
    for target, plan in plans.items():
        for kind in cfg.probe_inputs:
            by_budget = {label: dict(done[target, kind, first]) for label, _, _, first in plan}
            largest = by_budget[plan[-1][0]]  # budgets ascend; None ("all") is last
            out[target][kind] = {"accuracy": largest["accuracy"], "budgets": by_budget}
    return out, widths


def _probe_inputs(train: Encoded, test: Encoded, names: list[str], cfg: EvalConfig
                  ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, dict[str, Any]]]:
    """Each probe input (train, test), wide ones reduced to ``probe_dims`` principal
    components, and what each was reduced to (docs/metrics.md, "Linear probes")."""
    from disentangle import evaluation as ev

    inputs = {
        "codes": lambda: (train.probe_input(names), test.probe_input(names)),
        "features": lambda: (train.features, test.features),
        "pixels": lambda: (_pixels(train.data), _pixels(test.data)),
    }
    inputs = {kind: inputs[kind]() for kind in cfg.probe_inputs}
    widths = {}
    for kind, (x_train, x_test) in inputs.items():
        if kind == "codes":
            continue
        if cfg.probe_dims is None:
            width = x_train.shape[1]
            widths[kind] = {"width": width, "components": width, "variance_kept": 1.0}
        else:
            x_train, x_test, widths[kind] = ev.principal_components(
                x_train, x_test, cfg.probe_dims, seed=cfg.seed)
            inputs[kind] = (x_train, x_test)
    return inputs, widths


def _fit_probes(inputs: dict[str, tuple[np.ndarray, np.ndarray]],
                targets: dict[str, tuple[np.ndarray, np.ndarray]],
                budgets: list[tuple[str, str, np.ndarray, int]], cfg: EvalConfig,
                advance: Callable[[int], None]) -> dict[tuple[str, str, str], dict]:
    """Each (target, input, budget) fit by (target, input, budget label). Every probe is
    single-threaded (see _checks.fit_quietly) and independent of the others, and so is every
    budget of one: as separate jobs, many cores finish together instead of waiting on one
    target's budgets fitted in turn."""
    from joblib import Parallel, delayed

    from disentangle.evaluation._checks import as_codes, as_labels
    from disentangle.evaluation.probes import fit_cost, tagged_probe_budget

    # as linear_probe checks them (float64 inputs, int64 classes), once instead of per job
    inputs = {kind: (as_codes(x_train, f"{kind} (train)"), as_codes(x_test, f"{kind} (test)"))
              for kind, (x_train, x_test) in inputs.items()}
    targets = {target: (as_labels(y_train, target), as_labels(y_test, target))
               for target, (y_train, y_test) in targets.items()}
    classes = {target: np.unique(y_train).size for target, (y_train, _) in targets.items()}
    fits = [(fit_cost(classes[target], x_train.shape[1], subset.size), (target, kind, label),
             subset, split_seed)
            for target, label, subset, split_seed in budgets
            for kind, (x_train, _) in inputs.items()]

    def fit(target: str, kind: str, label: str, subset: np.ndarray, split_seed: int):
        (x_train, x_test), (y_train, y_test) = inputs[kind], targets[target]
        return delayed(tagged_probe_budget)((target, kind, label), x_train, y_train, x_test,
                                            y_test, subset, split_seed,
                                            max_iter=cfg.probe_max_iter)

    fits.sort(key=lambda job: -job[0])  # costliest first, so the workers finish together
    results = Parallel(n_jobs=cfg.jobs, return_as="generator_unordered")(
        fit(*job, subset, seed) for _, job, subset, seed in fits)
    done = {}
    for job, result in results:  # as each fit finishes, so the bar moves
        done[job] = result
        advance(1)
    return done


def _disentanglement(model, dataset, data_dir, train, test, factors_train, factors_test, cfg,
                     stages: Stages) -> tuple[dict[str, Any], str]:
    """The metrics, and the line on DCI's classifier for eval.json's definitions."""
    from disentangle import evaluation as ev

    out: dict[str, Any] = {}
    gaps = test.flat.shape[1] >= GAP_DIMS
    with stages.stage("mig"):
        out["mig"] = ev.mig(test.flat, factors_test)["score"] if gaps else None
    with stages.stage("dci", total=factors_train.shape[1]) as advance:
        # factors fit in parallel on every core: the same numbers, sooner (GBT is most of eval);
        # on a GPU every factor's trees grow there at once
        dci = ev.dci(train.flat, factors_train, test.flat, factors_test, model=cfg.dci_model,
                     n_jobs=cfg.jobs, progress=advance, device=_trees_device(model))
        out["dci"] = {k: dci[k] for k in ("disentanglement", "completeness", "informativeness")}
    with stages.stage("sap"):
        out["sap"] = ev.sap(train.flat, factors_train, test.flat, factors_test)["score"] \
            if gaps else None
        out["sap_raw"] = ev.sap(train.flat, factors_train, test.flat, factors_test,
                                standardize=False)["score"] if gaps else None
    with stages.stage("modularity"):
        out["modularity"] = ev.modularity(ev.mi_matrix(test.flat, factors_test))["score"]
    with stages.stage("explicitness"):
        out["explicitness"] = ev.explicitness(train.flat, factors_train, test.flat,
                                              factors_test)["score"]
    out.update(_interventions(model, dataset, data_dir, cfg, stages))
    return out, dci["definition"]


def _trees_device(model) -> torch.device | None:
    """Where GBT DCI grows its trees: on the model's GPU, or None (scikit-learn's, on the CPU)."""
    device = next(model.parameters()).device
    return device if device.type == "cuda" else None


def _interventions(model, dataset, data_dir, cfg: EvalConfig, stages: Stages) -> dict[str, float]:
    """FactorVAE and BetaVAE at disentanglement_lib's vote counts (``intervention_points``)."""
    from disentangle import evaluation as ev
    from disentangle.evaluation._sampling import random_factors
    from disentangle.evaluation.pool import CodePool

    codes_of, sizes = factor_codes(model, dataset, data_dir, cfg.batch_size)
    rng = np.random.default_rng(cfg.seed)
    points = cfg.intervention_points

    votes = dict(num_train=points, num_eval=max(1, points // 2))
    if cfg.intervention_pool:
        rows = random_factors(rng, sizes, (cfg.intervention_pool,))
        with stages.stage("intervention pool", total=len(rows)) as advance:
            source = CodePool(codes_of(rows, advance), rows, sizes)
        fresh = (0, 0)
    else:  # every batch rendered and encoded afresh: dl's procedure
        fresh = (points + 64 * (points + points // 2), 2 * 64 * (points + points // 2))
    out = {}
    for (name, score, extra), total in zip(
            (("factor_vae", ev.factor_vae_score, dict(num_variance_estimate=points)),
             ("beta_vae", ev.beta_vae_score, {})), fresh):
        with stages.stage(name, total=total or None) as advance:
            if not cfg.intervention_pool:
                source = lambda rows, advance=advance: codes_of(rows, advance)  # noqa: E731
            out[name] = score(source, sizes, rng, points_per_call=16384, **votes,
                              **extra)["eval_accuracy"]
    return out


def factor_codes(model: LatentModel, dataset, data_dir: Path | None, batch_size: int = 1000
                 ) -> tuple[Callable[..., np.ndarray], np.ndarray]:
    """`codes_of(rows, advance=None)`: the run's flat codes of the images `dataset.render`s for
    rows of its varying factors (the others at value 0), a chunk at a time; and those factors'
    sizes. What FactorVAE, BetaVAE and the published-definitions benchmark read."""
    every = np.array([f.size for f in dataset.factors])
    varying = varying_factors(dataset)

    def codes_of(factor_rows: np.ndarray,
                 advance: Callable[[int], None] | None = None) -> np.ndarray:
        full = np.zeros((len(factor_rows), len(every)), np.int64)  # (N, every factor)
        full[:, varying] = factor_rows
        parts = [encode(model, ImageData(dataset.render(full[start:start + RENDER_CHUNK],
                                                        data_dir)), batch_size, advance).flat
                 for start in range(0, len(full), RENDER_CHUNK)]
        return np.concatenate(parts)

    return codes_of, every[varying]


def _pixels(data: ImageData) -> np.ndarray:
    return data.images.reshape(len(data), -1).float().div(255).numpy()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")
