"""`lambda_real`: Q's categorical codes asked to sort real images into confident, evenly used
classes. Known answers for I_Q(x; c), and which parameters the term reaches in each step."""

from __future__ import annotations

import json
import math

import pytest
import torch

from disentangle import DisentangleError
from disentangle.latent import Latent
from disentangle.registry import get_registry
from disentangle_infogan.method import real_information

from .test_cli_run import FAST, cli, one_error_line
from .test_methods import build, grads, same
from .test_trainer import read_jsonl


def _latent(*specs: str) -> Latent:
    return Latent.from_specs(list(specs), noise_dim=2, registry=get_registry())


def _entropy(p: list[float]) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def test_known_answers():
    latent = _latent("categorical:3", "uniform:2", "categorical:2")
    sure = 50.0  # logits this far apart give probabilities 1 and 0 in float64
    head = torch.tensor([  # c1: one sure class each, used evenly; c2 ignored; c3: see below
        [sure, 0, 0, 9, 9, 0.9, 0.1],
        [0, sure, 0, 9, 9, 0.2, 0.8],
        [0, 0, sure, 9, 9, 0.5, 0.5],
    ], dtype=torch.float64)
    head[:, 5:] = head[:, 5:].log()  # c3's logits: log-probabilities
    terms = real_information(latent, head)
    assert set(terms) == {"c1", "c3"}, "only the categorical codes have a term"
    assert terms["c1"].item() == pytest.approx(math.log(3), abs=1e-10)
    rows = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]
    marginal = [sum(r[k] for r in rows) / 3 for k in range(2)]
    expected = _entropy(marginal) - sum(_entropy(r) for r in rows) / 3
    assert terms["c3"].item() == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("head", [
    torch.zeros(4, 3, dtype=torch.float64),  # Q unsure of every image
    torch.tensor([[50.0, 0, 0]] * 4, dtype=torch.float64),  # every image the same sure class
])
def test_no_information_is_zero(head):
    assert real_information(_latent("categorical:3"), head)["c1"].item() == pytest.approx(
        0, abs=1e-9)


def _step_parts(method: str, lambda_real: float, **options):
    model, algo, opts = build(method, lambda_real=lambda_real, **options)
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    z, values = model.latent.sample(16, torch.Generator().manual_seed(2))
    return model, algo, opts, real, model.generate(z, values), values


@pytest.mark.parametrize("method, q_trains_trunk, moves", [
    ("infogan", None, True), ("infogan", False, False), ("gan", None, False)])
def test_d_step_term_reaches_the_trunk_exactly_where_qs_term_does(method, q_trains_trunk, moves):
    trunks = []
    for lambda_real in (0.0, 1.0):
        model, algo, opts, real, fake, values = _step_parts(method, lambda_real,
                                                             q_trains_trunk=q_trains_trunk)
        algo.d_step(model, opts["d"], real, fake.detach(), values)
        trunks.append(grads(model.trunk))
    assert same(*trunks) != moves


@pytest.mark.parametrize("method", ["infogan", "gan", "infogan-cr"])
def test_g_step_term_trains_qs_head_and_never_g(method):
    heads, gens = [], []
    for with_term in (False, True):  # the same D step both times; the G step with or without
        model, algo, opts, real, fake, values = _step_parts(method, 1.0)
        _, real_features = algo.d_step(model, opts["d"], real, fake.detach(), values)
        extra, logs = algo.real_term(model, real_features)
        assert set(logs) == {"info_real/c1"}
        algo.g_step(model, opts["g"], fake, values, extra if with_term else 0.0)
        heads.append(grads(model.q_head))
        gens.append(grads(model.generator))
    assert same(*gens), "λ_r's term reached G"
    assert not same(*heads), "λ_r's term did not reach Q's head"


@pytest.mark.parametrize("method", ["infogan", "gan", "infogan-cr"])
def test_step_logs_the_real_information_per_categorical_code(method):
    model, algo, opts = build(method)
    assert algo.real_term(model, torch.zeros(4, 8)) == (0.0, {})  # off by default
    model, algo, opts = build(method, lambda_real=0.5)
    logs = algo.step(model, opts, torch.rand(16, 1, 28, 28) * 2 - 1,
                     torch.Generator().manual_seed(0))
    assert "info_real/c2" not in logs  # uniform:2 has no classes
    assert 0 <= logs["info_real/c1"].item() <= math.log(5) + 1e-6
    assert not logs["info_real/c1"].requires_grad


@pytest.mark.parametrize("value", [-1.0, math.inf, math.nan, True, "1"])
def test_bad_weight_is_refused(value):
    with pytest.raises(DisentangleError, match="lambda_real must be a finite number >= 0"):
        get_registry().create("methods", "infogan", lambda_real=value)


def test_a_run_without_a_categorical_code_is_refused(capsys, toy_registry, tmp_path):
    fast = [a if a != "categorical:4" else "uniform:1" for a in FAST]
    code, _, err = cli(capsys, "run", "infogan", *fast, "--lambda-real", "1", "--steps", "2",
                       "--out", tmp_path / "r")
    assert code != 0
    line = one_error_line(err)
    assert "--lambda-real" in line and "categorical" in line and "uniform:1" in line
    assert not (tmp_path / "r").exists()


def test_through_the_cli_into_config_and_metrics(capsys, toy_registry, tmp_path):
    out = tmp_path / "r"
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--lambda-real", "2", "--steps", "4",
                       "--log-every", "2", "--out", out)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["config"]["lambda_real"] == 2.0
    assert all("info_real/c1" in row for row in read_jsonl(out / "metrics.jsonl"))
