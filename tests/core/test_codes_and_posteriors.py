"""Known answers for the priors, the posteriors and the variational MI bound."""

import math

import pytest
import torch
import torch.nn.functional as F

from disentangle import DisentangleError, get_registry
from disentangle.codes import CodeSpec, parse_code_spec
from disentangle.latent import Latent


def code(kind, size):
    return get_registry().create("codes", kind, size)


def posterior(kind, c):
    return get_registry().create("posteriors", kind, c)


@pytest.mark.parametrize("kind, size, entropy", [
    ("categorical", 10, 2.302585093),
    ("categorical", 2, math.log(2)),
    ("uniform", 2, 2 * math.log(2)),
    ("gaussian", 1, 1.418938533),
    ("bernoulli", 3, 3 * math.log(2)),
])
def test_entropies_in_closed_form(kind, size, entropy):
    assert code(kind, size).entropy() == pytest.approx(entropy, abs=1e-8)


def test_differential_flag_marks_continuous_codes():
    assert code("uniform", 1).differential and code("gaussian", 1).differential
    assert not code("categorical", 3).differential and not code("bernoulli", 1).differential


def test_samples_follow_their_priors():
    g = torch.Generator().manual_seed(0)
    cat = code("categorical", 4).sample(40000, g)
    counts = torch.bincount(cat[:, 0].long(), minlength=4).float() / 40000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.01)
    uni = code("uniform", 2).sample(40000, g)
    assert uni.min() >= -1 and uni.max() <= 1 and abs(float(uni.mean())) < 0.02
    assert float(uni.var()) == pytest.approx(1 / 3, abs=0.01)
    gau = code("gaussian", 1).sample(40000, g)
    assert float(gau.std()) == pytest.approx(1.0, abs=0.02)
    bits = code("bernoulli", 3).sample(40000, g)
    assert set(bits.unique().tolist()) == {0.0, 1.0} and float(bits.mean()) == pytest.approx(0.5, abs=0.01)


def test_categorical_feeds_one_hot_and_sweeps_every_class():
    c = code("categorical", 5)
    values = torch.tensor([[0.0], [3.0]])
    assert torch.equal(c.to_input(values), F.one_hot(torch.tensor([0, 3]), 5).float())
    assert torch.equal(c.sweep(), torch.arange(5.0))


def test_continuous_sweeps_go_beyond_the_training_range():
    sweep = code("uniform", 1).sweep(5)
    assert torch.allclose(sweep, torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))


def test_categorical_log_prob_is_log_softmax_of_logits_not_softmax_twice():
    c = code("categorical", 3)
    head = torch.tensor([[2.0, 0.0, -1.0]])
    expected = 2.0 - math.log(math.exp(2) + 1 + math.exp(-1))
    assert float(posterior("categorical", c).log_prob(head, torch.tensor([[0.0]]))) == pytest.approx(expected)


def test_gaussian_log_prob_in_closed_form():
    c = code("uniform", 2)
    mean, raw = torch.tensor([[0.5, -0.2]]), torch.tensor([[0.3, -1.0]])
    x = torch.tensor([[0.1, 0.4]])
    std = F.softplus(raw) + 1e-3
    expected = (-0.5 * ((x - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum()
    got = posterior("gaussian", c).log_prob(torch.cat([mean, raw], 1), x)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)
    fixed = posterior("gaussian-fixed", c).log_prob(mean, x)
    assert float(fixed) == pytest.approx(float((-0.5 * (x - mean) ** 2).sum() - math.log(2 * math.pi)))


def test_bernoulli_log_prob_in_closed_form():
    c = code("bernoulli", 2)
    logits = torch.tensor([[0.0, 2.0]])
    p = torch.sigmoid(logits)
    x = torch.tensor([[1.0, 0.0]])
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert float(posterior("bernoulli", c).log_prob(logits, x)) == pytest.approx(float(expected))
    assert torch.allclose(posterior("bernoulli", c).estimate(logits), p)


def test_estimates_are_argmax_and_means():
    cat = code("categorical", 3)
    assert posterior("categorical", cat).estimate(torch.tensor([[0.1, 3.0, 0.2]])).tolist() == [[1.0]]
    uni = code("uniform", 1)
    assert posterior("gaussian", uni).estimate(torch.tensor([[0.7, -5.0]])).tolist() == [[pytest.approx(0.7)]]


def test_posterior_refuses_a_code_it_cannot_score():
    with pytest.raises(DisentangleError, match="cannot score"):
        posterior("categorical", code("uniform", 1))
    with pytest.raises(DisentangleError, match="cannot score"):
        posterior("gaussian", code("categorical", 3))


def _channel_bound(k, eps, n=200000):
    """A categorical code sent through a symmetric channel: x = c with probability 1 - eps, else
    one of the other k - 1 classes. Q is the exact posterior, so the bound must equal I(c; x)."""
    g = torch.Generator().manual_seed(1)
    latent = Latent.from_specs([f"categorical:{k}"], noise_dim=0)
    _, (c,) = latent.sample(n, g)
    flip = torch.rand(n, generator=g) < eps
    other = (c[:, 0].long() + torch.randint(1, k, (n,), generator=g)) % k
    x = torch.where(flip, other, c[:, 0].long())
    true_posterior = torch.full((k, k), eps / (k - 1))
    true_posterior.fill_diagonal_(1 - eps)  # Q(c | x) = P(x | c) here, by symmetry
    head = true_posterior[x].clamp_min(1e-12).log()
    (bound,) = latent.information_terms(head, [c])
    return float(bound)


def test_mi_bound_equals_entropy_when_q_is_the_exact_posterior_of_a_noiseless_channel():
    assert _channel_bound(10, 0.0) == pytest.approx(math.log(10), abs=1e-6)


def test_mi_bound_equals_true_mi_for_a_noisy_channel():
    k, eps = 4, 0.2
    mutual_information = math.log(k) + (1 - eps) * math.log(1 - eps) + eps * math.log(eps / (k - 1))
    assert _channel_bound(k, eps) == pytest.approx(mutual_information, abs=0.01)


def test_mi_bound_of_an_uninformative_q_is_zero():
    latent = Latent.from_specs(["categorical:10"], noise_dim=0)
    _, values = latent.sample(1000, torch.Generator().manual_seed(0))
    (bound,) = latent.information_terms(torch.zeros(1000, 10), values)
    assert float(bound) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("text, spec", [
    ("categorical:10", CodeSpec("categorical", 10)),
    ("uniform:2", CodeSpec("uniform", 2)),
    ("uniform:1@gaussian-fixed", CodeSpec("uniform", 1, "gaussian-fixed")),
])
def test_code_specs_parse(text, spec):
    assert parse_code_spec(text) == spec and str(spec) == text


@pytest.mark.parametrize("text, message", [
    ("categorical:0", "at least 1"),
    ("uniform:-1", "at least 1"),
    ("uniform", "TYPE:SIZE"),
    ("uniform:two", "TYPE:SIZE"),
])
def test_malformed_specs_are_clear_errors(text, message):
    with pytest.raises(DisentangleError, match=message):
        parse_code_spec(text)


def test_latent_from_specs_rejects_unknown_type_and_one_class_categorical():
    with pytest.raises(DisentangleError, match="unknown code 'unifrom'.*did you mean 'uniform'"):
        Latent.from_specs(["unifrom:2"], 4)
    with pytest.raises(DisentangleError, match="size >= 2"):
        Latent.from_specs(["categorical:1"], 4)


def test_latent_assembles_generator_input_and_splits_the_head():
    latent = Latent.from_specs(["categorical:10", "uniform:2", "uniform:1@gaussian"], 62)
    assert latent.input_width == 62 + 10 + 2 + 1 == 75
    assert latent.head_width == 10 + 2 + 2
    assert [c.weight for c in latent.codes] == [1.0, 0.1, 0.1]
    assert latent.specs() == ["categorical:10", "uniform:2", "uniform:1@gaussian"]
    z, values = latent.sample(8, torch.Generator().manual_seed(0))
    inputs = latent.generator_input(z, values)
    assert inputs.shape == (8, 75)
    assert torch.equal(inputs[:, 62:72].argmax(1).float(), values[0][:, 0])
    assert [h.shape[1] for h in latent.split_head(torch.zeros(8, 14))] == [10, 2, 2]


@pytest.mark.parametrize("kind, size, post", [
    ("categorical", 10, "categorical"),
    ("uniform", 3, "gaussian-fixed"),
])
def test_closed_form_log_prob_matches_its_distribution_in_value_and_gradient(kind, size, post):
    """The built-ins score with a closed form in training; it must be the distribution's density,
    and it must train Q's head the same way."""
    c = code(kind, size)
    q = posterior(post, c)
    g = torch.Generator().manual_seed(5)
    values = c.sample(64, g)
    head = (torch.randn(64, q.width, generator=g) * 3).requires_grad_()
    fast = q.log_prob(head, values)
    grad_fast, = torch.autograd.grad(fast.sum(), head)
    slow = q.distribution(head).log_prob(q.to_event(values))
    grad_slow, = torch.autograd.grad(slow.sum(), head)
    assert type(q).log_prob is not type(q).__mro__[1].log_prob  # the override is what ran
    assert torch.allclose(fast, slow, atol=1e-5) and torch.allclose(grad_fast, grad_slow, atol=1e-6)


def test_default_sweep_runs_upwards_between_the_prior_percentiles():
    """A traversal's columns go from low to high: a code type without its own sweep (gaussian)
    must get its 2nd..98th percentiles in that order, not reversed."""
    sweep = code("gaussian", 1).sweep(5)
    assert (sweep.diff() > 0).all()
    assert float(sweep[0]) == pytest.approx(-2.05, abs=0.1)
    assert float(sweep[-1]) == pytest.approx(2.05, abs=0.1)


def test_split_head_gives_each_code_its_own_columns_in_spec_order():
    """Q's head is read in the order of the specs: a split in another order would score (and
    estimate) each code from another code's outputs, with every width still right."""
    latent = Latent.from_specs(["categorical:3", "uniform:2", "uniform:1@gaussian"], 4)
    head = torch.arange(7.0).repeat(2, 1)  # widths 3, 2 and 2 (mean and std)
    assert [h[0].tolist() for h in latent.split_head(head)] == [[0, 1, 2], [3, 4], [5, 6]]
    estimates = latent.estimates(head)
    assert [e[0].tolist() for e in estimates] == [[2.0], [3.0, 4.0], [5.0]]
