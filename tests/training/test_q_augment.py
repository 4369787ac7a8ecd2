"""`q_augment`: Q reads discrete codes from randomly warped fakes. Known answers for the maps and
the warp, their bounds and determinism, which of Q's readings each code's term uses, and
`q_augment_start`: plain steps before it, a clock that resumes."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from disentangle import DisentangleError
from disentangle.registry import get_registry
from disentangle.training import fit, resume
from disentangle.training.checkpoint import load_checkpoint
from disentangle_infogan.augment import AffineRange, draw_affine, warp
from disentangle_infogan.cr import PAIR
from disentangle_infogan.method import CLOCK

from .test_cli_run import FAST, cli
from .test_methods import build
from .test_trainer import full_and_interrupted, read_jsonl


def _image(n: int = 3, size: int = 12) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0))


def test_no_range_is_the_identity():
    theta = draw_affine(3, torch.Generator().manual_seed(0), torch.device("cpu"),
                        AffineRange(0.0, 0.0, 0.0))
    assert torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(3, 2, 3))
    x = _image()
    assert torch.allclose(warp(x, theta), x, atol=1e-6)


def test_a_quarter_turn_and_a_whole_pixel_shift():
    x = _image()
    turn = torch.tensor([[0.0, -1, 0], [1, 0, 0]]).expand(3, 2, 3)  # 90° in affine_grid's frame
    turned = warp(x, turn)
    assert any(torch.allclose(turned, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, 3))
    shift = torch.tensor([[1.0, 0, 2 / 12], [0, 1, 0]]).expand(3, 2, 3)  # one pixel of 12
    moved = warp(x, shift)  # out[j] = in[j + 1]; the last column repeats the border
    assert torch.allclose(moved[..., :-1], x[..., 1:], atol=1e-5)
    assert torch.allclose(moved[..., -1], x[..., -1], atol=1e-5)


def test_draws_stay_within_the_bounds_and_follow_the_generator():
    bounds = AffineRange()
    theta = draw_affine(4000, torch.Generator().manual_seed(1), torch.device("cpu"))
    zoom = torch.linalg.det(theta[:, :, :2]).sqrt()  # rotation times zoom: det = zoom²
    angle = torch.atan2(theta[:, 1, 0], theta[:, 0, 0])
    assert (zoom - 1).abs().max() <= bounds.scale + 1e-6
    assert (zoom - 1).abs().max() > 0.9 * bounds.scale  # the range is used, not a corner of it
    assert angle.abs().max() <= math.radians(bounds.rotation_deg) + 1e-6
    assert theta[:, :, 2].abs().max() <= 2 * bounds.shift + 1e-6
    again = draw_affine(4000, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert torch.equal(theta, again)


def test_off_draws_nothing_from_the_runs_generator():
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    model, algo, _ = build("infogan")
    assert algo.warps(8, generator, torch.device("cpu"), algo.warping(algo.tick(model))) is None
    assert torch.equal(generator.get_state(), state)
    model, algo, _ = build("infogan", q_augment=True)
    assert algo.warps(8, generator, torch.device("cpu"), algo.warping(0)).shape == (8, 2, 3)
    assert not torch.equal(generator.get_state(), state)


@pytest.mark.parametrize("method,options,drawn", [
    ("infogan", {}, True), ("gan", {}, False), ("gan", {"q_optimizer": "d"}, True),
    ("infogan-cr", {}, True)])
def test_a_d_step_draws_maps_only_where_d_reads_q(method, options, drawn):
    """The GAN's D step has no Q term unless Q's head is D's: no maps drawn for it."""
    _, algo, _ = build(method, q_augment=True, **options)
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    maps = algo.warps(8, generator, torch.device("cpu"), True, d_step=True)
    assert (maps is not None) == drawn
    assert torch.equal(generator.get_state(), state) != drawn
    assert algo.warps(8, generator, torch.device("cpu"), True).shape == (8, 2, 3)  # G: always


@pytest.mark.parametrize("method", ["infogan", "gan", "infogan-cr"])
def test_discrete_codes_are_read_from_the_warped_fakes(method):
    """In the G step Q's head runs twice: on the fakes, then on their warped copies. The logged
    L_I of the categorical code is the second reading's, the uniform code's the first's."""
    model, algo, opts = build(method, q_augment=True)
    heads = []
    model.q_head.register_forward_hook(lambda m, i, o: heads.append(o.detach().clone()))
    values = []
    sample = model.latent.sample
    model.latent.sample = lambda *a, **k: values.append(sample(*a, **k)) or values[-1]
    logs = algo.step(model, opts, torch.rand(16, 1, 28, 28) * 2 - 1,
                     torch.Generator().manual_seed(0))
    plain, warped = heads[-2], heads[-1]
    assert not torch.allclose(plain[:, :5], warped[:, :5])
    cat, uni = values[0][1]
    expected_c1 = -F.cross_entropy(warped[:, :5], cat[:, 0].long()) + math.log(5)
    expected_c2 = (torch.distributions.Normal(plain[:, 5:7], 1.0).log_prob(uni).sum(1).mean()
                   + 2 * math.log(2))
    assert torch.allclose(logs["info/c1"], expected_c1, atol=1e-5)
    assert torch.allclose(logs["info/c2"], expected_c2, atol=1e-5)


def test_the_reward_reaches_g_through_the_warp():
    model, algo, _ = build("infogan", q_augment=True)
    z, values = model.latent.sample(16, torch.Generator().manual_seed(0))
    warps = algo.warps(16, torch.Generator().manual_seed(1), torch.device("cpu"), True)
    grads = []
    for maps in (warps, None):
        fake = model.generate(z, values)
        _, features = model.discriminate(fake)
        head = algo.q_outputs(model, model.q_head(features), fake, maps, detach=False)
        c1 = model.latent.information_terms(head, values)[0]  # the categorical code's term
        model.generator.zero_grad()
        c1.backward(inputs=list(model.generator.parameters()))
        grads.append([p.grad.clone() for p in model.generator.parameters()])
    assert all(g.abs().sum() > 0 for g in grads[0])
    assert not all(torch.equal(a, b) for a, b in zip(*grads)), "the warp was not on the path"


def test_a_bad_value_is_refused():
    with pytest.raises(DisentangleError, match="q_augment must be true or false"):
        get_registry().create("methods", "infogan", q_augment="yes")


def test_through_the_cli_into_config(capsys, toy_registry, tmp_path):
    out = tmp_path / "r"
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--q-augment", "--steps", "3",
                       "--out", out)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["config"]["q_augment"] is True


def test_a_run_without_a_discrete_code_is_refused(capsys, toy_registry, tmp_path):
    """Nothing would read the warped fakes: one error line, no run directory."""
    out = tmp_path / "r"
    uniform_only = [a for a in FAST if a != "categorical:4"]
    uniform_only.remove("--code")  # the flag that named the categorical code
    code, _, err = cli(capsys, "run", "infogan", *uniform_only, "--code", "uniform:1",
                       "--q-augment", "--steps", "1", "--out", out)
    assert code != 0
    assert "q_augment" in err and "uniform:1, uniform:1" in err and "have none" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_before_the_start_the_steps_are_a_plain_runs_then_the_warps_begin():
    """q_augment_start=2: steps 1-2 equal a run without q_augment bit for bit (nothing drawn),
    step 3 reads the warped fakes; the clock in model.auxiliary counts every step."""
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    runs = []
    for options in ({}, {"q_augment": True, "q_augment_start": 2}):
        model, algo, opts = build("infogan", **options)
        generator = torch.Generator().manual_seed(2)
        runs.append((model, [algo.step(model, opts, real, generator) for _ in range(3)]))
    (_, plain), (model, delayed) = runs
    for step in (0, 1):
        assert all(torch.equal(plain[step][k], delayed[step][k]) for k in plain[step])
    assert not torch.equal(plain[2]["info/c1"], delayed[2]["info/c1"])
    assert int(model.auxiliary[CLOCK].steps_done) == 3
    assert CLOCK not in runs[0][0].auxiliary  # no clock without a start


def test_a_start_needs_q_augment_and_a_step(capsys, toy_registry, tmp_path):
    with pytest.raises(DisentangleError, match="needs q_augment"):
        get_registry().create("methods", "infogan", q_augment_start=3)
    with pytest.raises(DisentangleError, match="integer >= 0"):
        get_registry().create("methods", "infogan", q_augment=True, q_augment_start=-1)
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--q-augment-start", "5", "--steps", "2",
                       "--out", tmp_path / "r")
    assert code != 0 and "--q-augment-start" in err and "needs q_augment on" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_resume_across_the_start_is_bit_identical(fast_config):
    """Checkpointed at step 4, before the start at 5: the resumed run must count on from 4."""
    options = dict(steps=8, checkpoint_every=4, sample_every=100, q_augment=True,
                   q_augment_start=5)
    full, cut = full_and_interrupted(fast_config, 6, options)
    assert load_checkpoint(cut.run.latest)["step"] == 4
    resumed = resume(cut.run.path, "infogan")
    fit(resumed)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert int(a[f"auxiliary.{CLOCK}.steps_done"]) == 8
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a, log_b = read_jsonl(full.run.metrics), read_jsonl(resumed.run.metrics)
    assert [r["info/c1"] for r in log_a] == [r["info/c1"] for r in log_b]



def test_infogan_cr_counts_the_start_in_hs_steps():
    """One step counter per run: InfoGAN-CR's start is read from H's buffer, no StepClock."""
    model, algo, opts = build("infogan-cr", q_augment=True, q_augment_start=1)
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    generator, drawn, maps = torch.Generator().manual_seed(2), [], algo.warps

    def warps(*args, **kwargs):
        drawn.append(maps(*args, **kwargs))
        return drawn[-1]

    algo.warps = warps
    for _ in range(2):
        algo.step(model, opts, real, generator)
    assert CLOCK not in model.auxiliary
    assert int(model.auxiliary[PAIR].steps_done) == 2
    # a D step and infogan-cr's two G steps each: none before the start, all after
    assert [m is not None for m in drawn] == [False] * 3 + [True] * 3
