"""Contract checks every registered component must pass, ours and third parties' alike.

Plugin authors call these from their own tests (see docs/plugins.md); our test suite runs them on
every entry in the registry. Each check raises AssertionError with a message naming the component.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from pathlib import Path

import torch
from torch import nn

from disentangle.backbones import Backbone, Networks
from disentangle.codes import CodeType, parse_code_spec
from disentangle.datasets import Dataset, ImageData
from disentangle.errors import DisentangleError
from disentangle.latent import Latent, LatentCode
from disentangle.methods import Method
from disentangle.model import LatentModel
from disentangle.posteriors import Posterior
from disentangle.registry import PluginError, Registry, get_registry

SHAPES = ((1, 28, 28), (1, 32, 32), (3, 32, 32), (1, 64, 64), (3, 64, 64))


def _sizes(factory) -> tuple[int, int]:
    """Two sizes a code type takes: 2 and 3, or from its `min_size` on."""
    least = max(2, getattr(factory, "min_size", 1))
    return least, least + 1


def check_code(name: str, registry: Registry | None = None) -> None:
    registry = registry or get_registry()
    factory = registry.get("codes", name).component.factory
    least = getattr(factory, "min_size", 1)
    for size in _sizes(factory):
        code = registry.create("codes", name, size)
        assert isinstance(code, CodeType), f"code '{name}': factory must return a CodeType"
        assert code.kind == name, f"code '{name}': kind is '{code.kind}'"
        assert parse_code_spec(code.spec).kind == name, f"code '{name}': spec does not parse back"
        g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        values = code.sample(64, g1)
        assert values.shape == (64, code.dims) and values.dtype == torch.float32, \
            f"code '{name}': sample must be (n, dims) float32, got {tuple(values.shape)} {values.dtype}"
        assert torch.equal(values, code.sample(64, g2)), f"code '{name}': sample ignores generator"
        inputs = code.to_input(values)
        assert inputs.shape == (64, code.width), f"code '{name}': to_input must be (n, width)"
        entropy = code.entropy()
        assert math.isfinite(entropy), f"code '{name}': entropy must be finite"
        if not code.differential:
            assert entropy >= 0, f"code '{name}': a discrete entropy cannot be negative"
        check_entropy(code)
        sweep = code.sweep(7)
        assert sweep.ndim == 1 and len(sweep) >= 2, f"code '{name}': sweep must be (S,), S >= 2"
        posterior = registry.create("posteriors", code.default_posterior, code)
        check_posterior_on(posterior, code)
        _check_details(registry, name, code)
    for bad in ((least - 1,) if least > 1 else ()) + (0, -1):  # below its min_size too
        try:
            registry.create("codes", name, bad)
        except DisentangleError:
            continue
        raise AssertionError(f"code '{name}': size {bad} must be refused with DisentangleError")


def _check_details(registry: Registry, name: str, code: CodeType) -> None:
    """What `disentangle list codes` shows (the Details record) is what the code is."""
    details = registry.get("codes", name).component.details
    for column, actual in (("discrete", code.discrete), ("posterior", code.default_posterior)):
        shown = getattr(details, column)
        assert shown is None or shown == actual, (
            f"code '{name}': its Details say {column}={shown!r} but the code has {actual!r} "
            "(disentangle list shows the Details)")


def check_entropy(code: CodeType, n: int = 20_000) -> None:
    """entropy() against a Monte Carlo estimate of -E[log p(c)] on n prior draws.

    The tolerance is 5 standard errors of the estimate plus 1e-4 nats, so a correct code fails
    about once in 3 million runs (the draws are seeded: never, in practice) while an entropy that
    is off by more than a few hundredths of a nat fails at once.
    """
    label = f"code '{code.kind}' (size {code.size})"
    try:
        log_p = code.log_prob(code.sample(n, torch.Generator().manual_seed(11)))
    except NotImplementedError:
        raise AssertionError(f"{label}: define log_prob(values), the prior's log-density (or "
                             "log-mass), so that entropy() can be checked") from None
    assert log_p.shape == (n,), f"{label}: log_prob must be (n,), got {tuple(log_p.shape)}"
    log_p = log_p.double()
    assert torch.isfinite(log_p).all(), f"{label}: log_prob of its own samples is not finite"
    estimate = float(-log_p.mean())
    tolerance = 5 * float(log_p.std()) / math.sqrt(n) + 1e-4
    assert abs(estimate - code.entropy()) <= tolerance, (
        f"{label}: entropy() is {code.entropy():.4f} nats but -E[log p(c)] over {n} samples is "
        f"{estimate:.4f} ± {tolerance:.4f}")


def check_posterior(name: str, registry: Registry | None = None) -> None:
    """Builds the posterior for every registered code it supports and checks it on each: a
    third party's code is checked with every posterior that claims it, so `supports` must claim
    only codes whose values the posterior can score. A factory that refuses a code (raises
    DisentangleError, as `Posterior.__init__` does where `supports` is False) skips it."""
    registry = registry or get_registry()
    supported = 0
    for code_entry in registry.list("codes"):
        code = code_entry.component.factory(_sizes(code_entry.component.factory)[1])
        try:
            posterior = registry.create("posteriors", name, code)
        except DisentangleError:
            continue
        check_posterior_on(posterior, code)
        supported += 1
    assert supported, f"posterior '{name}' supports none of the registered codes"


def check_posterior_on(posterior: Posterior, code: CodeType) -> None:
    """The posterior's head width, log-density and estimate, each against its distribution."""
    label = f"posterior '{posterior.kind}' on code '{code.spec}'"
    width = posterior.width
    assert isinstance(width, int) and width > 0, f"{label}: width must be a positive int"
    head = torch.randn(16, width, generator=torch.Generator().manual_seed(1), requires_grad=True)
    values = code.sample(16, torch.Generator().manual_seed(0))
    try:
        dist = posterior.distribution(head)
        log_q = posterior.log_prob(head, values)
    except (ValueError, RuntimeError, IndexError, TypeError) as exc:
        raise AssertionError(f"{label}: distribution() fails on a head of its declared width "
                             f"{width} (head width mismatch?): {type(exc).__name__}: {exc}") from None
    assert log_q.shape == (16,), f"{label}: log_prob must be (n,), got {tuple(log_q.shape)}"
    assert torch.isfinite(log_q).all(), f"{label}: log_prob must be finite"
    if not code.differential:
        assert (log_q <= 1e-6).all(), f"{label}: a discrete log-probability cannot exceed 0"
    family = dist.log_prob(posterior.to_event(values)).detach()
    assert family.shape == (16,), f"{label}: distribution(head).log_prob must give (n,) values"
    gap = float((log_q.detach() - family).abs().max())
    assert gap <= 1e-5, (f"{label}: log_prob disagrees with its distribution "
                         f"{type(dist).__name__}.log_prob (by up to {gap:.3g} nats)")
    log_q.sum().backward()
    assert head.grad is not None, f"{label}: no gradient reaches Q"
    unused = (head.grad.abs().sum(dim=0) == 0).nonzero().flatten().tolist()
    assert not unused, (f"{label}: head columns {unused} of its declared width {width} get no "
                        "gradient (head width mismatch: the distribution ignores them)")
    estimate = posterior.estimate(head.detach())
    assert estimate.shape == (16, code.dims), f"{label}: estimate must be (n, dims)"
    _check_estimate(label, posterior, code, head.detach(), estimate)


def _check_estimate(label: str, posterior: Posterior, code: CodeType, head: torch.Tensor,
                    estimate: torch.Tensor) -> None:
    """The estimate is the mean or the mode of the distribution, and a possible code value.
    The estimate is in code values and the distribution's mean and mode in its own space, so
    both the estimate and `to_event(estimate)` are compared (a ±1 code whose posterior is a
    Bernoulli over 0/1 estimates ±1)."""
    dist = posterior.distribution(head)
    forms = [estimate]
    try:
        forms.append(posterior.to_event(estimate))
    except (ValueError, RuntimeError, IndexError, TypeError):
        pass
    candidates = []
    for stat in ("mean", "mode"):
        try:
            value = getattr(dist, stat)
        except NotImplementedError:
            continue
        if torch.isfinite(value).all():
            candidates.append((stat, value))
    assert candidates, f"{label}: its distribution has neither a mean nor a mode to check against"
    assert any(form.numel() == v.numel() and torch.allclose(
        form.reshape(v.shape).to(torch.float64), v.to(torch.float64), atol=1e-4)
        for _, v in candidates for form in forms), (
        f"{label}: estimate() is neither the {' nor the '.join(s for s, _ in candidates)} of "
        "distribution(head) (a transform such as a sigmoid applied to it?)")
    if code.discrete:
        prior = code.sample(10_000, torch.Generator().manual_seed(0))
        low, high = prior.min(dim=0).values, prior.max(dim=0).values
        assert ((estimate >= low - 1e-6) & (estimate <= high + 1e-6)).all(), (
            f"{label}: estimate leaves the range of the code's values "
            f"[{float(low.min()):g}, {float(high.max()):g}]")


def check_backbone(name: str, registry: Registry | None = None) -> None:
    registry = registry or get_registry()
    backbone = registry.create("backbones", name)
    assert isinstance(backbone, Backbone), f"backbone '{name}': factory must return a Backbone"
    shapes = [s for s in SHAPES if backbone.supports(s)]
    assert shapes, f"backbone '{name}' supports none of {SHAPES}"
    for (h, w) in backbone.default_for:
        assert any(s[1:] == (h, w) for s in shapes), f"backbone '{name}': default for {h}x{w} " \
            "but supports no such shape"
    low, high = backbone.output_range
    for shape in shapes:
        nets = backbone.build(shape, input_width=12, head_width=5)
        assert isinstance(nets, Networks), f"backbone '{name}': build must return Networks"
        model = nn.ModuleDict(vars(nets))
        model.eval()
        with torch.no_grad():
            images = nets.generator(torch.randn(4, 12))
            assert images.shape == (4, *shape), \
                f"backbone '{name}': G gives {tuple(images.shape)} for {shape}"
            assert images.min() >= low - 1e-5 and images.max() <= high + 1e-5, \
                f"backbone '{name}': G output leaves {backbone.output_range}"
            features = nets.trunk(images)
            assert features.ndim == 2 and features.shape[0] == 4, \
                f"backbone '{name}': trunk must give (B, F) features"
            assert nets.d_head(features).shape == (4, 1), f"backbone '{name}': d_head must be (B, 1)"
            assert nets.q_head(features).shape == (4, 5), \
                f"backbone '{name}': q_head must be (B, head_width)"


IMAGE_SIZES = (16, 28, 32, 64)  # `--image-size` values check_dataset tries beyond the default


def check_dataset(name: str, registry: Registry | None = None) -> None:
    """The default instance, then one per size of IMAGE_SIZES the factory accepts as
    `image_size` (it refuses the others with a DisentangleError): each must declare that size
    and hold it, since `disentangle run --image-size` trains on what it declares."""
    registry = registry or get_registry()
    default = registry.create("datasets", name)
    _check_dataset_instance(name, default)
    for size in (s for s in IMAGE_SIZES if (s, s) != tuple(default.image_shape[1:])):
        try:
            dataset = registry.create("datasets", name, image_size=size)
        except PluginError as exc:
            raise AssertionError(f"dataset '{name}' (image_size={size}): {exc}") from exc
        except DisentangleError:
            continue  # a size it does not come in
        assert tuple(dataset.image_shape[1:]) == (size, size), \
            (f"dataset '{name}' (image_size={size}): its image_shape is "
             f"{tuple(dataset.image_shape)}; set it per instance to the size asked for")
        _check_dataset_instance(name, dataset)


def _check_dataset_instance(name: str, dataset: Dataset) -> None:
    assert isinstance(dataset, Dataset), f"dataset '{name}': factory must return a Dataset"
    assert dataset.name == name, f"dataset '{name}': its name attribute is '{dataset.name}'"
    c, h, w = dataset.image_shape
    assert c in (1, 3) and h > 0 and w > 0, f"dataset '{name}': bad image_shape"
    if dataset.needs_files:
        with tempfile.TemporaryDirectory() as empty:
            try:
                dataset.load(dataset.splits[0], Path(empty), download=False)
            except DisentangleError as exc:
                assert empty in str(exc) or Path(empty).name in str(exc), \
                    f"dataset '{name}': a missing-file error must name the directory searched"
            else:
                raise AssertionError(f"dataset '{name}' loaded from an empty directory")
        return
    data = dataset.load(dataset.splits[-1])
    check_image_data(dataset, data)


def check_image_data(dataset: Dataset, data: ImageData) -> None:
    name = dataset.name
    assert isinstance(data, ImageData), f"dataset '{name}': load must return ImageData"
    n = len(data)
    assert n > 0, f"dataset '{name}': empty split"
    assert data.images.dtype == torch.uint8 and tuple(data.images.shape[1:]) == dataset.image_shape, \
        (f"dataset '{name}': images must be uint8 (N, *{dataset.image_shape}) as its "
         f"image_shape says, got {data.images.dtype} {tuple(data.images.shape)}")
    if dataset.class_names:
        assert data.labels is not None and data.labels.shape == (n,), f"dataset '{name}': labels"
        assert 0 <= int(data.labels.min()) and int(data.labels.max()) < dataset.num_classes
    if dataset.factors:
        assert data.factors is not None and data.factors.shape == (n, len(dataset.factors)), \
            f"dataset '{name}': factors must be (N, K)"
        sizes = torch.tensor([f.size for f in dataset.factors])
        assert (data.factors >= 0).all() and (data.factors < sizes).all(), \
            f"dataset '{name}': factor indices out of range"
        rendered = dataset.render(data.factors[:4].numpy())
        assert torch.equal(rendered, data.images[:4]), \
            f"dataset '{name}': render() disagrees with load() for the same factors"


class _TinyNets:
    """Linear networks, so a method's contract does not depend on any backbone plugin."""

    @staticmethod
    def build(shape: tuple[int, int, int], input_width: int, head_width: int) -> Networks:
        pixels = math.prod(shape)
        return Networks(
            generator=nn.Sequential(nn.Linear(input_width, pixels), nn.Tanh(), nn.Unflatten(1, shape)),
            trunk=nn.Sequential(nn.Flatten(), nn.Linear(pixels, 16), nn.LeakyReLU(0.1)),
            d_head=nn.Linear(16, 1),
            q_head=nn.Linear(16, head_width),
        )


def check_method(name: str, registry: Registry | None = None) -> None:
    registry = registry or get_registry()
    factory = registry.get("methods", name).component.factory
    try:  # what the trainer passes every method (docs/plugins.md, "Methods")
        inspect.signature(factory).bind(q_trains_trunk=True, precision="fp32")
    except TypeError:
        raise AssertionError(f"method '{name}': its factory must take the keyword arguments "
                             "q_trains_trunk and precision (--no-q-trains-trunk, --precision)"
                             ) from None
    except ValueError:  # no signature to read
        pass
    method = registry.create("methods", name)
    assert isinstance(method, Method), f"method '{name}': factory must return a Method"
    latent = Latent.from_specs(["categorical:3", "uniform:1"], noise_dim=4, registry=registry)
    assert all(isinstance(c, LatentCode) for c in latent.codes)
    shape = (1, 8, 8)
    model = LatentModel(latent, _TinyNets.build(shape, latent.input_width, latent.head_width))
    auxiliary = method.auxiliary_networks(latent, shape)  # as the trainer builds a model
    assert isinstance(auxiliary, dict) and all(isinstance(k, str) and isinstance(v, nn.Module)
                                               for k, v in auxiliary.items()), \
        f"method '{name}': auxiliary_networks must return a dict of name -> nn.Module"
    model.auxiliary.update(auxiliary)
    optimizers = method.optimizers(model, None)
    assert optimizers, f"method '{name}': no optimizers"
    before = [p.detach().clone() for p in model.parameters()]
    real = torch.rand(8, *shape) * 2 - 1
    logs = method.step(model, optimizers, real, torch.Generator().manual_seed(0))
    for key in ("loss_d", "loss_g", "info/c1", "info/c2"):
        assert key in logs, f"method '{name}': step must log '{key}'"
        value = logs[key]
        assert not (isinstance(value, torch.Tensor) and value.requires_grad), \
            f"method '{name}': logged '{key}' must be detached"
        assert math.isfinite(float(value)), f"method '{name}': '{key}' is not finite"
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert changed, f"method '{name}': a step changed no parameter"


CHECKS = {
    "codes": check_code,
    "posteriors": check_posterior,
    "backbones": check_backbone,
    "datasets": check_dataset,
    "methods": check_method,
}


def check_component(kind: str, name: str, registry: Registry | None = None) -> None:
    """Run the contract for one registered component."""
    CHECKS[kind](name, registry)
