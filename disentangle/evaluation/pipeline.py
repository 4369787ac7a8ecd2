"""`disentangle eval`: encode a dataset with a trained run's Q and D, then measure everything that
applies to it — the MI bound per code, code-label agreement, linear probes, and the
disentanglement metrics where the data has ground-truth factors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disentangle.datasets import ImageData
from disentangle.errors import DisentangleError
from disentangle.model import LatentModel


@dataclass
class EvalConfig:
    split: str = "test"  # split whose codes are scored; probes train on 'train'
    n: int | None = None  # at most this many points per split (None = all)
    probe: bool = False  # linear probes (codes, D features, pixels)
    mi: bool = True  # MI bound on fresh samples and the code-factor MI matrix
    metrics: bool = True  # disentanglement metrics where the dataset has factors
    bound_samples: int = 5000  # generator samples for the MI lower bound
    budgets: tuple[int | None, ...] = (10, 100, 1000, None)  # labelled points per class
    intervention_points: int = 2000  # train/eval votes for the FactorVAE and BetaVAE scores
    dci_model: str = "gbt"  # disentanglement_lib's gradient-boosted trees, or "random_forest"
    batch_size: int = 500
    seed: int = 0
    device: str = "auto"  # auto = cuda when available
    fid: bool = False  # FID and KID of generated images against `split` (evaluation/quality.py)
    fid_samples: int = 10000  # generated images, and at most as many real ones, for FID and KID
    fid_weights: str | None = None  # Inception weights file; None = the cache directory's copy
    download: bool = False  # fetch the Inception weights when they are missing
    timings: dict[str, float] = field(default_factory=dict, repr=False)


@dataclass
class Encoded:
    """One split encoded: per-code point estimates, their concatenation, D features."""

    codes: list[np.ndarray]  # per code (N, dims)
    probs: dict[str, np.ndarray]  # categorical codes: class probabilities (N, K)
    features: np.ndarray  # (N, F) D's trunk
    data: ImageData

    @property
    def flat(self) -> np.ndarray:
        return np.concatenate(self.codes, axis=1)  # (N, total dims)

    def probe_input(self, names: list[str]) -> np.ndarray:
        """Codes as a probe sees them: class probabilities for categorical codes, else values."""
        parts = [self.probs.get(n, c) for n, c in zip(names, self.codes)]
        return np.concatenate(parts, axis=1)


@torch.no_grad()
def encode(model: LatentModel, data: ImageData, batch_size: int = 500) -> Encoded:
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
    per_code = [torch.cat([b[i] for b in codes]).numpy() for i in range(len(model.latent.codes))]
    return Encoded(
        codes=per_code,
        probs={n: torch.cat([p[n] for p in probs]).numpy() for n in categorical},
        features=torch.cat(features).numpy(),
        data=data,
    )


def _subset(data: ImageData, n: int | None, seed: int) -> ImageData:
    if n is None or n >= len(data):
        return data
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    take = lambda t: None if t is None else t[index]  # noqa: E731
    return ImageData(data.images[index], take(data.labels), take(data.factors), take(data.attributes))


def save_encoded(path: Path, names: list[str], encoded: dict[str, Encoded]) -> None:
    import h5py

    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
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
    tmp.replace(path)


class _Timer:
    def __init__(self, store: dict[str, float], name: str):
        self.store, self.name = store, name

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.store[self.name] = round(time.perf_counter() - self.start, 3)


def check_options(cfg: EvalConfig, dataset=None) -> None:
    """Every option checked before any work starts, so a typo costs a second, not an evaluation
    that fails after encoding; with the run's dataset, the split too."""
    from disentangle.evaluation.dci import MODELS

    if cfg.dci_model not in MODELS:
        raise DisentangleError(f"--dci-model {cfg.dci_model}: unknown model; use one of "
                               f"{', '.join(MODELS)}")
    for flag, value, least in (("--n", cfg.n, 1), ("--bound-samples", cfg.bound_samples, 1),
                               ("--intervention-points", cfg.intervention_points, 2)):
        if value is not None and value < least:
            raise DisentangleError(f"{flag} {value}: must be at least {least}")
    if dataset is not None:
        for split in dict.fromkeys(("train", cfg.split)):
            if split not in dataset.splits:
                raise DisentangleError(f"dataset '{dataset.name}' has no split '{split}' "
                                       f"(it has {', '.join(dataset.splits)}); pass --split")


def evaluate_run(run_dir: Path, cfg: EvalConfig,
                 fid_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Encode, measure, and write RUN/eval.json (plus encoded.h5 and figures); returns the dict.
    `fid_progress(done, total)` follows the images through the FID network (--fid)."""
    from disentangle import evaluation as ev
    from disentangle.evaluation import quality
    from disentangle.training import artefacts, load_run
    from disentangle.training.build import resolve_device
    from disentangle.training.rundir import atomic_write_text, versions

    check_options(cfg)
    run_config, model, dataset = load_run(run_dir, device=resolve_device(cfg.device))
    check_options(cfg, dataset)
    extractor = quality.load_extractor(cfg.fid_weights, cfg.download) if cfg.fid else None
    data_dir = Path(run_config.data_dir) if getattr(run_config, "data_dir", None) else None
    names = [c.name for c in model.latent.codes]
    timings = cfg.timings
    result: dict[str, Any] = {"run": str(run_dir), "dataset": dataset.name, "split": cfg.split}

    with _Timer(timings, "encode"):
        splits = {"train": "train", "test": cfg.split}
        encoded = {}
        for role, split in splits.items():
            loaded = _subset(dataset.load(split, data_dir), cfg.n, cfg.seed)
            encoded[role] = encode(model, loaded, cfg.batch_size)
        save_encoded(run_dir / "encoded.h5", names, encoded)
    test, train = encoded["test"], encoded["train"]

    codes: dict[str, Any] = {}
    for latent_code in model.latent.codes:
        code = latent_code.code
        codes[latent_code.name] = {"type": latent_code.spec, "entropy": code.entropy(),
                                   "differential": code.differential,
                                   "reachable_bound": artefacts.reachable_bound(latent_code)}
    if cfg.mi:
        with _Timer(timings, "mi_lower_bound"):
            generator = torch.Generator(device=next(model.parameters()).device).manual_seed(cfg.seed)
            bounds = model.information_bound(cfg.bound_samples, cfg.batch_size, generator)
        for name, bound in zip(names, bounds):
            codes[name]["mi_lower_bound"] = bound
            if not codes[name]["differential"]:
                codes[name]["bound_ratio"] = bound / codes[name]["entropy"]
    result["codes"] = codes
    if extractor is not None:
        with _Timer(timings, "fid_kid"):
            result["sample_quality"] = quality.sample_quality(
                model, dataset.load(cfg.split, data_dir).images, extractor, cfg.fid_samples,
                cfg.seed, progress=fid_progress)

    labels = test.data.labels
    if labels is not None and test.probs:
        with _Timer(timings, "cluster"):
            best, matched = None, {}
            for name, probs in test.probs.items():
                pred = probs.argmax(1)
                accuracy = ev.cluster_accuracy(pred, labels.numpy())
                codes[name].update(cluster_accuracy=accuracy, **ev.label_mi(pred, labels.numpy()))
                matched[name] = ev.matching(pred, labels.numpy())
                if best is None or accuracy > codes[best]["cluster_accuracy"]:
                    best = name
            result.update(cluster_accuracy=codes[best]["cluster_accuracy"],
                          nmi=codes[best]["nmi"], cluster_code=best)
            pred = test.probs[best].argmax(1)
            classes = [artefacts.class_name(dataset, k) for k in np.unique(labels.numpy())]
            ev.save_confusion(ev.confusion(pred, labels.numpy()), run_dir / "confusion.png",
                              f"{best}'s clusters against the classes ({cfg.split} split)",
                              row_names=np.unique(pred), col_names=classes)
        artefacts.redraw_class_traversals(run_dir, run_config, model, dataset, matched)

    if cfg.probe:
        targets = {}  # what the probes predict: the class label, then each ground-truth factor
        if labels is not None and train.data.labels is not None:
            targets["label"] = (train.data.labels.numpy(), labels.numpy())
        if dataset.factors and train.data.factors is not None and test.data.factors is not None:
            for k, factor in enumerate(dataset.factors):
                y_train = train.data.factors[:, k].numpy()
                if np.unique(y_train).size > 1:  # a factor fixed in this split has nothing to find
                    targets[factor.name] = (y_train, test.data.factors[:, k].numpy())
        if targets:
            with _Timer(timings, "probe"):
                probes = _probes(train, test, names, targets, cfg)
            if "label" in probes:
                result["probe"] = probes.pop("label")
            if probes:
                result["probe_factors"] = probes

    if dataset.factors and test.data.factors is not None:
        factor_names = [f.name for f in dataset.factors]
        code_columns = [f"{n}[{j}]" if c.shape[1] > 1 else n
                        for n, c in zip(names, test.codes) for j in range(c.shape[1])]
        factors_test, factors_train = test.data.factors.numpy(), train.data.factors.numpy()
        if cfg.mi:
            with _Timer(timings, "mi_matrix"):
                matrix = ev.mi_matrix(test.flat, factors_test)
            result["mi_matrix"] = {"codes": code_columns, "factors": factor_names,
                                   "nats": matrix.tolist()}
            ev.save_heatmap(matrix, code_columns, factor_names, run_dir / "mi_matrix.png",
                            "code-factor mutual information (nats)")
        if cfg.metrics:
            result["disentanglement"] = _disentanglement(
                model, dataset, data_dir, train, test, factors_train, factors_test, cfg, timings)

    result["timings_s"] = dict(timings)
    result["versions"] = versions()
    result["eval_config"] = {k: v for k, v in asdict(cfg).items() if k != "timings"}
    text = json.dumps(result, indent=2, default=_json_default)
    atomic_write_text(run_dir / "eval.json", text)
    return json.loads(text)


def _probes(train: Encoded, test: Encoded, names: list[str],
            targets: dict[str, tuple[np.ndarray, np.ndarray]],
            cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    """Linear probes from the codes, D's features and raw pixels to each target, per budget."""
    from disentangle import evaluation as ev

    inputs = {
        "codes": (train.probe_input(names), test.probe_input(names)),
        "features": (train.features, test.features),
        "pixels": (_pixels(train.data), _pixels(test.data)),
    }
    out: dict[str, dict[str, Any]] = {}
    for target, (y_train, y_test) in targets.items():
        out[target] = {}
        for kind, (x_train, x_test) in inputs.items():
            by_budget = ev.linear_probe(x_train, y_train, x_test, y_test, budgets=cfg.budgets,
                                        seed=cfg.seed)
            largest = list(by_budget.values())[-1]  # budgets ascend; None ("all") is last
            out[target][kind] = {"accuracy": largest["accuracy"], "budgets": by_budget}
    return out


def _disentanglement(model, dataset, data_dir, train, test, factors_train, factors_test, cfg,
                     timings) -> dict[str, Any]:
    from disentangle import evaluation as ev

    out: dict[str, Any] = {}
    with _Timer(timings, "mig"):
        out["mig"] = ev.mig(test.flat, factors_test)["score"]
    with _Timer(timings, "dci"):
        # factors fit in parallel on every core: the same numbers, sooner (GBT is most of eval)
        dci = ev.dci(train.flat, factors_train, test.flat, factors_test, model=cfg.dci_model,
                     n_jobs=-1)
        out["dci"] = {k: dci[k] for k in ("disentanglement", "completeness", "informativeness")}
    with _Timer(timings, "sap"):
        out["sap"] = ev.sap(train.flat, factors_train, test.flat, factors_test)["score"]
    with _Timer(timings, "modularity"):
        out["modularity"] = ev.modularity(ev.mi_matrix(test.flat, factors_test))["score"]
    with _Timer(timings, "explicitness"):
        out["explicitness"] = ev.explicitness(train.flat, factors_train, test.flat,
                                              factors_test)["score"]
    sizes = [f.size for f in dataset.factors]

    def sample_codes(factor_indices: np.ndarray) -> np.ndarray:
        images = dataset.render(factor_indices, data_dir)
        return encode(model, ImageData(images), cfg.batch_size).flat

    rng = np.random.RandomState(cfg.seed)
    points = cfg.intervention_points
    with _Timer(timings, "factor_vae"):
        out["factor_vae"] = ev.factor_vae_score(sample_codes, sizes, rng, num_train=points,
                                                num_eval=points // 2,
                                                num_variance_estimate=points)["eval_accuracy"]
    with _Timer(timings, "beta_vae"):
        out["beta_vae"] = ev.beta_vae_score(sample_codes, sizes, rng, num_train=points,
                                            num_eval=points // 2)["eval_accuracy"]
    return out


def _pixels(data: ImageData) -> np.ndarray:
    return data.images.reshape(len(data), -1).float().div(255).numpy()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")
