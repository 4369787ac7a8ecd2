"""The worked factor-dataset example of docs/plugins.md (tests/example_plugin/disentangle_bars):
it passes the dataset contract, supplies its own preset, and trains and evaluates end to end."""

import importlib.util
import json

import pytest

from disentangle import DisentangleError
from disentangle.contracts import check_dataset
from disentangle.training.config import preset_for, resolve
from tests.conftest import EXAMPLE_PLUGIN, run_cli


def load_bars():
    spec = importlib.util.spec_from_file_location(
        "disentangle_bars", EXAMPLE_PLUGIN / "disentangle_bars" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bars_passes_the_dataset_contract(use_registry):
    bars = load_bars()
    registry = use_registry(bars)
    check_dataset("bars", registry)
    small = bars.Bars(image_size=16)
    assert small.image_shape == (1, 16, 16)
    train, test = small.load("train"), small.load("test")
    assert len(train) == 96 and len(test) == 32  # 128 combinations, a quarter held out


def test_a_dataset_plugin_supplies_its_preset(use_registry, tmp_path):
    use_registry(load_bars())
    assert preset_for("bars")["backbone"] == "tiny"
    config = resolve("infogan", {"dataset": "bars", "steps": 5})
    assert config.codes == ["uniform:1", "uniform:1", "categorical:2"]  # from the preset
    assert config.noise_dim == 4 and config.steps == 5  # a flag beats the preset
    assert preset_for("no-such-dataset") == {}  # validation names unknown datasets later


def test_a_preset_with_an_unknown_option_names_the_dataset(use_registry):
    bars = load_bars()
    bars.Bars.preset = {"noise_dims": 4}
    try:
        use_registry(bars)
        with pytest.raises(DisentangleError, match="dataset 'bars': its preset sets unknown "
                                                   "option 'noise_dims'"):
            preset_for("bars")
    finally:
        bars.Bars.preset = {}


def test_bars_trains_and_evaluates_through_the_cli(fake_site, tmp_path):
    site = fake_site(EXAMPLE_PLUGIN / "disentangle_bars", "disentangle-bars",
                     {"bars": "disentangle_bars"})
    env = {"PYTHONPATH": f"{site}:{__import__('os').environ.get('PYTHONPATH', '')}"}
    run = tmp_path / "bars-run"
    done = run_cli("run", "infogan", "--dataset", "bars", "--steps", "3", "--batch-size", "16",
                   "--out", run, "--quiet", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "config.json").read_text())["config"]["backbone"] == "tiny"
    done = run_cli("eval", run, "--quick", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)["disentanglement"]
    for key in ("mig", "sap", "sap_raw", "factor_vae", "beta_vae", "modularity"):
        assert 0 <= scores[key] <= 1, key


def test_a_dataset_whose_images_disagree_with_its_image_shape_is_refused(use_registry):
    """A dataset declaring 32x32 that draws 16x16 images used to train at 16x16 silently."""
    from disentangle.training.build import load_data
    from disentangle.training.config import RunConfig

    bars = load_bars()

    class Mislabelled(bars.Bars):
        def __init__(self, image_size=None):
            super().__init__(image_size=16)
            self.image_shape = (1, 32, 32)  # what it claims

    bars.Bars = Mislabelled
    use_registry(bars)
    with pytest.raises(DisentangleError, match=r"dataset 'bars' declares 1x32x32 images "
                       r"\(image_shape\) but its 'train' split holds 1x16x16 ones"):
        load_data(RunConfig(method="infogan", dataset="bars"))
    with pytest.raises(AssertionError, match=r"images must be uint8 \(N, \*\(1, 32, 32\)\) as "
                       r"its image_shape says, got torch.uint8 \(\d+, 1, 16, 16\)"):
        check_dataset("bars", use_registry(bars))


@pytest.mark.parametrize("variant, message", [
    ("fixed_shape", r"dataset 'bars' \(image_size=16\): its image_shape is \(1, 32, 32\); set it "
                    r"per instance"),
    ("crashes", r"dataset 'bars' \(image_size=16\): plugin '.*' failed to build its dataset "
                r"'bars': ZeroDivisionError"),
])
def test_the_contract_builds_every_image_size_the_dataset_takes(use_registry, variant, message):
    """The default size alone passed while `--image-size 16` gave a wrong shape or a crash."""
    bars = load_bars()

    class Wrong(bars.Bars):
        def __init__(self, image_size=None):
            super().__init__(image_size)
            if variant == "fixed_shape":
                self.image_shape = (1, 32, 32)  # the class's, whatever the size
            elif image_size == 16:
                1 / 0

    bars.Bars = Wrong
    with pytest.raises(AssertionError, match=message):
        check_dataset("bars", use_registry(bars))
