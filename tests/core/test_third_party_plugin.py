"""The worked example of docs/plugins.md: a von Mises code published as its own distribution."""

import json
import math
import subprocess
import sys

import pytest
import torch

from disentangle.contracts import check_code, check_posterior
from tests.conftest import EXAMPLE_PLUGIN, run_cli


@pytest.fixture
def site(fake_site):
    return fake_site(EXAMPLE_PLUGIN / "disentangle_vonmises", "disentangle-vonmises",
                     {"vonmises": "disentangle_vonmises"})


def test_installed_plugin_is_listed_like_a_builtin(site):
    env = {"PYTHONPATH": str(site)}
    codes = json.loads(run_cli("list", "codes", "--json", env=env).stdout)
    assert {"name": "vonmises", "plugin": "vonmises",
            "summary": "d angles uniform on the circle, fed to G as cos/sin",
            "discrete": False, "posterior": "vonmises"} in codes  # its Details, as columns
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env=env).stdout)}
    assert plugins["vonmises"]["distribution"] == "disentangle-vonmises"
    assert plugins["vonmises"]["registers"] == {"codes": ["vonmises"], "posteriors": ["vonmises"]}


def test_installed_plugin_can_be_disabled(site):
    env = {"PYTHONPATH": str(site), "DISENTANGLE_DISABLE_PLUGINS": "vonmises"}
    names = [c["name"] for c in json.loads(run_cli("list", "codes", "--json", env=env).stdout)]
    assert "vonmises" not in names and "categorical" in names


def test_plugin_passes_our_contract_through_entry_points(site, monkeypatch, use_registry):
    monkeypatch.syspath_prepend(str(site))
    registry = use_registry()
    check_code("vonmises", registry)
    check_posterior("vonmises", registry)


def test_plugin_own_test_suite_passes(site):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLE_PLUGIN / "test_vonmises.py")],
        capture_output=True, text=True, env={"PYTHONPATH": str(site), "PATH": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_plugin_code_mixes_with_builtins_in_a_latent(site, monkeypatch, use_registry):
    monkeypatch.syspath_prepend(str(site))
    use_registry()
    from disentangle.latent import Latent

    latent = Latent.from_specs(["categorical:10", "vonmises:1"], noise_dim=4)
    assert latent.input_width == 4 + 10 + 2 and latent.head_width == 10 + 3
    assert latent.codes[1].code.entropy() == pytest.approx(math.log(2 * math.pi))
    z, values = latent.sample(16, torch.Generator().manual_seed(0))
    head = torch.randn(16, latent.head_width)
    assert all(lq.shape == (16,) for lq in latent.log_q(head, values))


def test_plugin_code_trains_through_the_cli(site, tmp_path):
    out = tmp_path / "run"
    done = run_cli("run", "infogan", "--code", "categorical:10", "--code", "vonmises:1",
                   "--backbone", "tiny", "--steps", "2", "--batch-size", "8", "--out", out,
                   "--quiet", env={"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["codes"] == ["categorical:10", "vonmises:1"]
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "info/c2" in log[-1] and (out / "traversal-c2.png").is_file()
