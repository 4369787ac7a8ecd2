"""A table of bad values for every numeric flag of `disentangle run` and every config-file key
(wrong type, out of range, overflow): each is one error line naming the flag or key, a non-zero
exit, no traceback, and no run directory left behind."""

from __future__ import annotations

import typing

import pytest
import torch

from disentangle import Component, hookimpl
from disentangle.training.config import FIELDS, RunConfig, option_label
from disentangle_infogan.method import InfoGAN

from .conftest import make_plugin
from .test_cli_run import FAST, cli, one_error_line

HINTS = typing.get_type_hints(RunConfig)


def _base(name: str) -> type:
    args = [a for a in typing.get_args(HINTS[name]) if a is not type(None)]
    return args[0] if args else HINTS[name]


NUMERIC = sorted(n for n in FIELDS if _base(n) in (int, float))
FILE_ONLY = {"beta1", "beta2", "noise", "method"}  # config-file fields without a flag
INT_BAD = ["abc", "1.5", "-1", "10000000000000000000000000", str(2**70)]
FLOAT_BAD = ["abc", "nan", "inf", "-inf", "-1", "1e400"]
ZERO_IS_BAD = {"steps", "batch_size", "image_size", "threads", "log_every", "checkpoint_every",
               "sample_every", "lr_d", "lr_g"}
FLAG_CASES = [(n, v) for n in NUMERIC if n not in FILE_ONLY
              for v in (INT_BAD if _base(n) is int else FLOAT_BAD) + (["0"] if n in ZERO_IS_BAD
                                                                     else [])]
CODE_BAD = ["categorical:99999999999999999999", "categorical:65537", "uniform:0",
            "categorical:-1", "categorical:abc", "uniform:1@", ":3"]


def _argv(tmp_path, *extra):
    fast = list(FAST)
    for flag in {e for e in extra if e.startswith("--")}:  # the tested flag replaces FAST's
        while flag in fast:
            i = fast.index(flag)
            del fast[i:i + 2]
    return ["run", "infogan", *fast, "--steps", "2", "--out", tmp_path / "r", *extra]


def _refused(capsys, tmp_path, *argv) -> str:
    code, out, err = cli(capsys, *argv)
    assert code != 0 and out == ""
    line = one_error_line(err)
    assert not (tmp_path / "r").exists(), "a refused start must not leave a run directory"
    return line


def test_the_table_covers_every_numeric_field():
    assert {n for n, _ in FLAG_CASES} == set(NUMERIC) - FILE_ONLY
    assert {"seed", "batch_size", "noise_dim", "lr_g", "checkpoint_minutes"} <= set(NUMERIC)


@pytest.mark.parametrize("name, value", FLAG_CASES)
def test_bad_numeric_flag_is_one_line(capsys, toy_registry, tmp_path, name, value):
    flag = option_label(name)
    line = _refused(capsys, tmp_path, *_argv(tmp_path, flag, value))
    assert flag in line, line
    assert any(word in line for word in ("must be", "Invalid value for")), line


@pytest.mark.parametrize("spec", CODE_BAD)
def test_bad_code_size_is_one_line(capsys, toy_registry, tmp_path, spec):
    line = _refused(capsys, tmp_path, *_argv(tmp_path, "--code", spec))
    assert "--code" in line and spec in line, line


def test_seed_range_is_stated(capsys, toy_registry, tmp_path):
    line = _refused(capsys, tmp_path, *_argv(tmp_path, "--seed", str(2**63)))
    assert f"--seed: must be between 0 and {2**63 - 1}, got {2**63}" in line


# --- the config file: every key, wrong type and out of range --------------------------------------

WRONG_TYPE = {int: '"seven"', float: '"fast"', str: "5", bool: '"yes"', list: '"categorical:10"'}
RANGE_BAD = {  # beyond types: values each key refuses (TOML ints are 64-bit; floats may be inf)
    "steps": ["0", "1_000_000_001"], "batch_size": ["1", "65537"], "noise_dim": ["-1", "65537"],
    "seed": ["-1", "9223372036854775807.5", "99999999999999999999999"],
    "lr_d": ["0.0", "inf", "nan"],
    "lr_g": ["-1e-3", "inf"], "beta1": ["1.0", "-0.1", "nan"], "beta2": ["1.5"],
    "lambda_discrete": ["-1.0", "inf"], "lambda_continuous": ["nan"], "image_size": ["3", "4097"],
    "threads": ["0", "1025"], "log_every": ["0"], "checkpoint_every": ["-5"],
    "checkpoint_minutes": ["-1.0", "nan", "inf"], "sample_every": ["0"],
    "device": ['"tpu"'], "precision": ['"fp16"'], "codes": ['[]', '["categorical:0"]',
                                                            '["uniform:99999999999"]'],
    "method": ['"gan"'], "noise": ['"nope"'], "dataset": ['"nope"'], "backbone": ['"nope"'],
    "g_steps": ["0", "1001"], "cr_weight": ["-1.0", "inf"], "cr_start": ["-1"],
    "cr_gap": ["2.0", "-0.5", "nan"], "cr_gap_until": ["-1"], "cr_gap_stages": ["0"],
    "cr_pair_net": ['"twin"'],
    "score_every": ["-1"],
}


def _file_cases():
    for name in FIELDS:
        base = _base(name)
        kind = list if typing.get_origin(base) is list else base
        yield name, WRONG_TYPE[kind]
        for value in RANGE_BAD.get(name, []):
            yield name, value


FILE_CASES = list(_file_cases())


def test_the_file_table_covers_every_key():
    assert {n for n, _ in FILE_CASES} == set(FIELDS)


@pytest.mark.parametrize("name, value", FILE_CASES)
def test_bad_config_key_is_one_line(capsys, toy_registry, tmp_path, name, value):
    path = tmp_path / "run.toml"
    path.write_text(f"{name} = {value}\n")
    argv = ["run", "infogan", "--dataset", "toy", "--steps", "2", "--out", tmp_path / "r",
            "--config", path, "--quiet"]
    if name in ("dataset", "steps", "out"):  # flags would override the file's value
        argv = [a for a in argv if a not in ("--dataset", "toy", "--steps", "2")] + \
               (["--steps", "2"] if name == "dataset" else ["--dataset", "toy"])
        if name == "out":
            argv = [a for a in argv if a not in ("--out", tmp_path / "r")]
    line = _refused(capsys, tmp_path, *argv)
    assert name in line or option_label(name) in line, line


# --- what no range check can catch ----------------------------------------------------------------

class Greedy(InfoGAN):
    """A method whose step asks the allocator for 1 PiB, as a far too large network would."""

    name = "greedy"

    def step(self, model, optimizers, real, generator):
        torch.empty(2**50, dtype=torch.uint8)
        return super().step(model, optimizers, real, generator)


def test_an_allocation_failure_is_one_line_with_the_size(capsys, use_registry, tmp_path):
    @hookimpl
    def disentangle_methods():
        yield Component("greedy", Greedy, "asks for 1 PiB (tests)")

    use_registry(make_plugin("greedy_plugin", disentangle_methods=disentangle_methods))
    code, _, err = cli(capsys, "run", "greedy", *FAST, "--steps", "2", "--out", tmp_path / "r")
    assert code != 0
    assert one_error_line(err) == ("error: out of memory while training (1024.0 TiB asked for); "
                                   "lower --batch-size, --noise-dim, --image-size or the code "
                                   "sizes")


def test_an_out_name_too_long_is_one_line(capsys, toy_registry, tmp_path):
    out = tmp_path / ("a" * 300)
    for extra in ([], ["--resume"]):
        line = _refused(capsys, tmp_path, "run", "gan", *FAST, "--out", out, *extra)
        assert "File name too long" in line


def test_a_binary_config_json_is_one_line(capsys, toy_registry, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(bytes(range(256)))
    for argv in (["run", "gan", "--out", run, "--resume"], ["eval", run]):
        code, _, err = cli(capsys, *argv)
        assert code != 0 and "config.json cannot be read as JSON" in one_error_line(err)
