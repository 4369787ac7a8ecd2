"""`disentangle run` through the command line: in-process for the error paths (with the toy
dataset), and end to end in a subprocess on the real embedded `digits` dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from disentangle.cli import main
from tests.conftest import run_cli

from .test_trainer import poison_plugin, read_jsonl

FAST = ["--dataset", "toy", "--backbone", "tiny", "--code", "categorical:4", "--code", "uniform:1",
        "--noise-dim", "8", "--batch-size", "16", "--device", "cpu", "--threads", "1", "--quiet"]
# --threads 1: without it each run takes as many threads as cores are free when it starts, and
# runs that tests compare bit for bit (a seed of `--seeds` against the same seed alone) round
# differently when the load changed in between (CI, ade2a25: 1 ulp apart at step 5)


def cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_run_prints_json_summary(capsys, toy_registry, tmp_path):
    code, out, _ = cli(capsys, "run", "gan", *FAST, "--steps", "3", "--out", tmp_path / "r",
                       "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["method"] == "gan" and summary["steps"] == 3
    assert Path(summary["files"]["checkpoint"]).is_file()


def test_human_summary_names_codes_and_files(capsys, toy_registry, tmp_path):
    args = [a for a in FAST if a != "--quiet"]
    code, out, _ = cli(capsys, "run", "infogan", *args, "--steps", "2", "--out", tmp_path / "r")
    assert code == 0
    assert "2 steps" in out and "categorical:4" in out and "bound" in out
    assert "heldout.png" in out and (tmp_path / "r" / "heldout.png").is_file()  # labelled data
    assert "traversal" in out and str(tmp_path / "r") in out.replace("\n", "")


@pytest.mark.parametrize("args, message", [
    (["infogn"], "unknown method 'infogn'.*did you mean 'infogan'"),
    (["infogan", "--code", "categorical"], "bad code spec 'categorical'"),
    (["infogan", "--code", "categorial:10"],
     "unknown code 'categorial'.*did you mean 'categorical'"),
    (["infogan", "--backbone", "tinny"], "unknown backbone 'tinny'.*did you mean 'tiny'"),
    (["infogan", "--steps", "-5"], "--steps: must be between 1 and 1000000000, got -5"),
    (["infogan", "--dataset", "toyy"], "unknown dataset 'toyy'.*did you mean 'toy'"),
    (["infogan", "--device", "tpu"], "--device: must be one of auto, cpu, cuda"),
    (["infogan", "--precision", "fp16"], "--precision: must be one of fp32, bf16"),
    (["infogan", "--backbone", "mnist", "--image-size", "32"], "does not support|rejected"),
])
def test_bad_flags_are_one_line_errors(capsys, toy_registry, tmp_path, args, message):
    import re

    argv = ["run", *args[:1], *FAST, *args[1:], "--steps", "2", "--out", tmp_path / "r"]
    if "--steps" in args:  # the test's own --steps wins: put it last
        argv = ["run", *args[:1], *FAST, "--out", tmp_path / "r", *args[1:]]
    code, _, err = cli(capsys, *argv)
    assert code != 0
    assert re.search(message, one_error_line(err)), err
    assert not (tmp_path / "r").exists(), "a failed start must not leave a run directory"


def test_refuses_to_reuse_a_non_empty_out(capsys, toy_registry, tmp_path):
    assert cli(capsys, "run", "gan", *FAST, "--steps", "2", "--out", tmp_path / "r")[0] == 0
    code, _, err = cli(capsys, "run", "gan", *FAST, "--steps", "2", "--out", tmp_path / "r")
    assert code != 0 and "already exists and is not empty" in one_error_line(err)


def test_resume_errors(capsys, toy_registry, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = cli(capsys, "run", "gan", "--out", tmp_path / "empty", "--resume")
    assert code != 0 and "not a run directory" in one_error_line(err)
    code, _, err = cli(capsys, "run", "gan", "--resume", "--config", tmp_path / "x.toml")
    assert code != 0 and "--config cannot be combined with --resume" in one_error_line(err)


@pytest.mark.parametrize("extra, expected", [
    ((), ("loss_d became nan at step 8", "last good checkpoint (step 6)")),
    (("--seeds", "0-1"), ("seed 0: loss_d became nan at step 8", "; seed 1: loss_d")),  # both
])
def test_nan_exits_non_zero_with_one_line(capsys, use_registry, toy_registry, tmp_path, extra,
                                          expected):
    use_registry(poison_plugin())
    code, _, err = cli(capsys, "run", "poison", *FAST, "--steps", "12", "--checkpoint-every", "3",
                       "--out", tmp_path / "r", *extra)
    assert code != 0
    line = one_error_line(err)
    assert all(part in line for part in expected)


def test_config_file_through_the_cli(capsys, toy_registry, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('steps = 2\nbatch_size = 8\nlog_every = 1\n')
    code, out, _ = cli(capsys, "run", "gan", *FAST, "--config", path, "--out", tmp_path / "r",
                       "--json")
    assert code == 0 and json.loads(out)["batch_size"] == 16  # the flag beats the file
    assert [r["step"] for r in read_jsonl(tmp_path / "r" / "metrics.jsonl")] == [1, 2]
    path.write_text("batch = 8\n")
    code, _, err = cli(capsys, "run", "gan", *FAST, "--config", path, "--out", tmp_path / "s")
    assert code != 0 and "unknown key 'batch'" in one_error_line(err)


def test_q_spectral_norm_flag_reaches_the_config_and_the_checkpoint(capsys, toy_registry,
                                                                     tmp_path):
    from disentangle.training.checkpoint import load_checkpoint

    for flags, name in ((["--spectral-norm"], "d"),
                        (["--spectral-norm", "--q-spectral-norm"], "q")):
        assert cli(capsys, "run", "infogan", *FAST, *flags, "--steps", "2",
                   "--out", tmp_path / name)[0] == 0
    for name, q_too in (("d", False), ("q", True)):
        config = json.loads((tmp_path / name / "config.json").read_text())["config"]
        assert (config["spectral_norm"], config["q_spectral_norm"]) == (True, q_too)
        weights = load_checkpoint(tmp_path / name / "checkpoints" / "latest.pt")["model"]
        assert any(k.startswith("q_head.") and "parametrizations" in k for k in weights) == q_too


def test_end_to_end_on_real_digits(tmp_path):
    """The real command, default backbone (the paper's MNIST networks), then --resume."""
    env = {"DISENTANGLE_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    result = run_cli("run", "infogan", "--dataset", "digits", "--steps", "6", "--batch-size", "32",
                     "--log-every", "2", "--checkpoint-every", "3", "--out", out, "--json",
                     env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["backbone"] == "mnist" and summary["dataset"] == "digits"
    assert [c["spec"] for c in summary["codes"]] == ["categorical:10", "uniform:2"]
    for name in ("config.json", "metrics.jsonl", "samples.png", "info.png", "summary.json",
                 "traversal-c1.png", "traversal-c2-1.png", "traversal-c2-2.png",
                 "checkpoints/latest.pt"):
        assert (out / name).is_file(), name
    result = run_cli("run", "infogan", "--out", out, "--resume", "--steps", "8", "--quiet",
                     env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [2, 4, 6, 8]
    bad = run_cli("run", "infogn", env=env, cwd=tmp_path)
    assert bad.returncode != 0 and "did you mean 'infogan'" in one_error_line(bad.stderr)


def test_ctrl_c_says_interrupted_once(capsys, toy_registry, tmp_path, monkeypatch):
    """Typer turned Ctrl-C into exit 130 with nothing said; a run says where it stopped, alone."""
    import disentangle.evaluation.pipeline as pipeline
    import disentangle.training.trainer as trainer

    (tmp_path / "config.json").write_text("{}")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "evaluate_run", interrupted)
    code, out, err = cli(capsys, "eval", tmp_path)
    assert code == 130 and out == "" and err == "interrupted\n"

    def stopped(*args, **kwargs):
        print("interrupted at step 3; ...", file=sys.stderr)  # as the loop says it
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "fit", stopped)
    code, out, err = cli(capsys, "run", "infogan", *FAST,
                         "--out", tmp_path / "run")
    assert code == 130 and err.splitlines()[-1] == "interrupted at step 3; ..."
