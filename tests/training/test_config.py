"""RunConfig, presets, and the precedence preset < TOML file < command-line flags."""

from __future__ import annotations

import dataclasses
import math

import pytest

from disentangle import DisentangleError
from disentangle.training import PRESETS, RunConfig, load_toml, resolve
from disentangle.training.config import METHOD_OPTIONS, from_json

from .conftest import make_plugin


def test_every_field_has_a_comment():
    import inspect

    from disentangle.training import config as module

    source = inspect.getsource(module.RunConfig)
    for field in dataclasses.fields(RunConfig):
        line = next(line for line in source.splitlines()
                    if line.strip().startswith(f"{field.name}:"))
        assert "#" in line, f"RunConfig.{field.name} has no comment"


def test_defaults_follow_the_paper():
    config = RunConfig()
    assert (config.batch_size, config.lr_d, config.lr_g, config.beta1) == (128, 2e-4, 1e-3, 0.5)
    assert (config.lambda_discrete, config.lambda_continuous, config.noise) == (1.0, 0.1, "uniform")
    assert config.dataset == "digits" and config.precision == "fp32"


@pytest.mark.parametrize("dataset, codes, noise", [
    ("mnist", ["categorical:10", "uniform:2"], 62),
    ("fashion-mnist", ["categorical:10", "uniform:2"], 62),
    ("svhn", ["categorical:10"] * 4 + ["uniform:1"] * 4, 124),
    ("celeba", ["categorical:10"] * 10, 128),
    ("dsprites", ["uniform:1"] * 5, 5),
])
def test_presets_from_the_papers(dataset, codes, noise):
    config = resolve("infogan", {"dataset": dataset})
    assert config.codes == codes and config.noise_dim == noise


def test_digits_preset_is_tuned_for_1497_images():
    config = resolve("infogan", {})
    assert config.dataset == "digits" and config.codes == ["categorical:10", "uniform:2"]
    assert (config.noise_dim, config.batch_size, config.steps) == (62, 64, 2000)
    assert (config.q_augment, config.q_augment_start) == (True, 300)


@pytest.mark.parametrize("method", ["infogan", "gan", "infogan-cr"])
def test_the_digits_warps_are_every_built_in_methods_recipe(method):
    config = resolve(method, {"cr_start": 300} if method == "infogan-cr" else {})
    assert (config.q_augment, config.q_augment_start) == (True, 300)


@pytest.mark.parametrize("overrides, q_augment, start", [
    ({"q_augment": False}, False, None),  # the start goes with the warps it times
    ({"codes": ["uniform:2"]}, None, None),  # nothing discrete to warp for
    ({"codes": ["uniform:1", "categorical:3"]}, True, 300),
    ({"q_augment_start": 0}, True, 0),
])
def test_the_presets_warps_give_way_to_flags(overrides, q_augment, start):
    config = resolve("infogan", overrides)
    assert (config.q_augment, config.q_augment_start) == (q_augment, start)


def test_the_presets_warps_give_way_to_a_config_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("q_augment = false\n")
    assert (resolve("infogan", {}, path).q_augment_start, resolve("gan", {}, path).q_augment) \
        == (None, False)
    path.write_text('codes = ["uniform:2"]\n')
    assert resolve("infogan", {}, path).q_augment is None
    # what applies is decided on the final codes: a flag's discrete code brings the warps back
    assert resolve("infogan", {"codes": ["categorical:10"]}, path).q_augment is True


def test_what_a_flag_or_file_sets_is_still_checked(tmp_path):
    with pytest.raises(DisentangleError, match="--q-augment-start: is the step from which"):
        resolve("infogan", {"q_augment": False, "q_augment_start": 100})
    path = tmp_path / "run.toml"
    path.write_text("q_augment = false\nq_augment_start = 100\n")
    with pytest.raises(DisentangleError, match=r"'q_augment_start' in .*run\.toml"):
        resolve("infogan", {}, path)


def test_a_plugin_method_is_not_handed_the_presets_method_options(use_registry):
    """A preset's method options were measured with the built-in methods; a method without the
    parameter runs on the dataset without them, while naming one for it stays an error."""
    from disentangle import Component, hookimpl
    from disentangle.training.build import build_method
    from disentangle_infogan.method import InfoGAN

    def plain(q_trains_trunk=None, precision=None):
        return InfoGAN()

    @hookimpl
    def disentangle_methods():
        yield Component("plain", plain, "no method options (tests)")

    use_registry(make_plugin("plain_method_plugin", disentangle_methods=disentangle_methods))
    for dataset in ("digits", "shapes"):
        config = resolve("plain", {"dataset": dataset})
        assert all(getattr(config, name) is None for name in METHOD_OPTIONS)
        build_method(config)
    with pytest.raises(DisentangleError, match="--g-steps: method 'plain' takes no such option"):
        build_method(resolve("plain", {"dataset": "shapes", "g_steps": 2}))


def test_modified_infogan_preset_for_factor_datasets():
    for name in ("dsprites", "shapes", "shapes3d"):
        config = resolve("infogan", {"dataset": name})
        assert (config.lambda_continuous, config.lr_g, config.lr_d, config.batch_size) == \
            (0.05, 1e-3, 2e-3, 64)
    assert set(PRESETS) >= {"mnist", "digits", "svhn", "celeba", "dsprites"}


def test_precedence_preset_then_file_then_flags(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('dataset = "svhn"\nnoise_dim = 50\nsteps = 7\nlr-d = 0.001\n')
    config = resolve("gan", {"steps": 9, "seed": None}, path)
    assert config.dataset == "svhn" and config.codes == PRESETS["svhn"]["codes"]  # preset
    assert config.noise_dim == 50 and config.lr_d == 0.001  # file over preset
    assert config.steps == 9  # flag over file
    assert config.seed == 0  # None leaves the default
    assert config.method == "gan"


def test_flag_dataset_picks_the_preset_over_the_file_dataset(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('dataset = "svhn"\n')
    assert resolve("infogan", {"dataset": "celeba"}, path).noise_dim == 128


def test_unknown_toml_key_names_file_and_key(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("stpes = 10\n")
    match = r"run\.toml.*unknown key 'stpes'.*did you mean 'steps'"
    with pytest.raises(DisentangleError, match=match):
        load_toml(path)


@pytest.mark.parametrize("text, match", [
    ('steps = "many"', r"'steps' in .*run\.toml: must be an integer"),
    ("steps = -3", r"'steps' in .*run\.toml: must be between 1 and"),
    ("lr_g = true", r"'lr_g' in .*run\.toml: must be a number"),
    ('codes = "categorical:10"', r"'codes' in .*run\.toml: must be a list of strings"),
    ('codes = ["categorical"]', r"'codes' in .*run\.toml: bad code spec 'categorical'"),
    ('precision = "fp16"', r"'precision' in .*run\.toml: must be one of fp32, bf16"),
    ("codes = []", r"'codes' in .*run\.toml: needs at least one code"),
    ("steps = ", r"run\.toml is not valid TOML"),
])
def test_bad_toml_values_are_one_clear_error(tmp_path, text, match):
    path = tmp_path / "run.toml"
    path.write_text(text + "\n")
    with pytest.raises(DisentangleError, match=match):
        resolve("infogan", {}, path)


def test_missing_config_file(tmp_path):
    with pytest.raises(DisentangleError, match="does not exist"):
        resolve("infogan", {}, tmp_path / "nope.toml")


@pytest.mark.parametrize("overrides, match", [
    ({"steps": -5}, r"--steps: must be between 1 and 1000000000, got -5"),
    ({"batch_size": 1}, r"--batch-size: must be at least 2"),
    ({"lr_d": 0.0}, r"--lr-d: must be positive"),
    ({"codes": ["categorical:0"]}, r"--code: bad code spec"),
    ({"device": "tpu"}, r"--device: must be one of auto, cpu, cuda"),
    ({"q_optimizer": "q"}, r"--q-optimizer: must be g or d"),
])
def test_bad_flags_name_the_flag(overrides, match):
    with pytest.raises(DisentangleError, match=match):
        resolve("infogan", overrides)


def test_json_round_trip_and_unknown_keys():
    config = resolve("infogan", {"dataset": "svhn", "steps": 3})
    assert from_json(config.to_dict()) == config
    with pytest.raises(DisentangleError, match="unknown key 'colour'"):
        from_json({**config.to_dict(), "colour": 1}, "config.json")
    assert not math.isnan(config.lr_g)


def test_paths_from_python_are_taken_where_the_fields_hold_paths():
    from pathlib import Path

    config = resolve("infogan", {"out": Path("runs/x"), "data_dir": Path("/data")})
    assert config.out == "runs/x" and config.data_dir == "/data"
    with pytest.raises(DisentangleError, match="dataset: must be a string, got PosixPath"):
        resolve("infogan", {"dataset": Path("digits")})


def test_the_lazy_load_run_is_listed_for_completion():
    import disentangle

    assert "load_run" in dir(disentangle) and "__version__" in dir(disentangle)
