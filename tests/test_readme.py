"""The README is what a newcomer runs: its commands must stay the ones that work, every flag it
shows must exist, and what it says about the tests and the benchmarks must hold."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.datasets.dataset_files import write_svhn

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def steps(block: str) -> list[list[str]]:
    return [shlex.split(part) for part in block.strip().split("&&")]


def commands() -> list[list[str]]:
    """Every command of every bash block, comments dropped, `&&` chains split."""
    out = []
    for block in bash_blocks():
        for line in block.strip().splitlines():
            out += [shlex.split(part, comments=True) for part in line.split("&&")]
    return [c for c in out if c]


def ours(command: list[str]) -> bool:
    return command[0] == "disentangle" or command[:3] == ["python", "-m", "benchmarks.infogan_vs_gan"]


def test_the_test_command_is_what_ci_runs():
    readme = steps(bash_blocks()[1])
    ci = [shlex.split(line) for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert readme == ci


def test_the_main_command_trains_and_evaluates_on_the_embedded_digits(tmp_path):
    commands = [s for s in steps(bash_blocks()[0]) if s[0] == "disentangle"]
    assert [c[:2] for c in commands] == [["disentangle", "run"], ["disentangle", "eval"]]
    for command in commands:
        args = command[1:]
        if "--steps" in args:  # the README's 300 steps take a CPU minute; 4 prove the same path
            args[args.index("--steps") + 1] = "4"
        extra = ["--n", "60", "--bound-samples", "100"] if args[0] == "eval" else ["--quiet"]
        # a cold start, as the user's: what a command imports itself, not the warm parent
        done = run_cli(*args, *extra, cwd=tmp_path, fresh=True)
        assert done.returncode == 0, done.stderr
    assert (next((tmp_path / "runs").iterdir()) / "eval.json").is_file()


def help_text(command: list[str]) -> str:
    if command[0] == "disentangle":
        sub = [w for w in command[1:2] if not w.startswith("-")]
        done = run_cli(*sub, "--help")
    else:
        done = subprocess.run([sys.executable, "-m", command[2], "--help"], capture_output=True,
                              text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_documented_flag_exists_and_has_help():
    documented = [c for c in commands() if ours(c)]
    assert len(documented) >= 10
    for command in documented:
        text = help_text(command)
        for flag in (w.split("=")[0] for w in command if w.startswith("--")):
            assert re.search(rf"(^|[\s,/]){re.escape(flag)}\b", text), (flag, command)


def test_every_option_of_every_command_has_help_text():
    from typer.main import get_command

    from disentangle.cli import _register_commands, app

    _register_commands()
    root = get_command(app)
    for name, command in [("", root), *root.commands.items()]:
        for param in command.params:
            if param.param_type_name == "option":
                assert (param.help or "").strip(), f"disentangle {name} {param.opts[0]}"


def test_every_usage_command_runs_without_network_or_gpu(tmp_path):
    """The Usage block, in order, with steps cut, placeholders filled in and the tiny backbone
    (the default networks train in the main command's test, above)."""
    data = tmp_path / "data"
    write_svhn(data)  # stands in for the real .mat files of `--data-dir ~/data`
    pics = tmp_path / "pics"  # stands in for `--data-dir ~/pics`
    pics.mkdir()
    from PIL import Image

    for i in range(12):
        Image.new("RGB", (40, 30), (20 * i, 100, 255 - 20 * i)).save(pics / f"p{i}.png")
    usage = README.split("## Usage", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    ran = []
    for line in usage.strip().splitlines():
        command = shlex.split(line, comments=True)
        if command[0] != "disentangle":
            continue  # the benchmark: its --quick plan with cut steps is tests/benchmarks/
        if "--download" in command:
            continue  # needs the network (the FID weights); its offline paths are tested apart
        args = [{"~/data": str(data), "~/pics": str(pics)}.get(a, a) for a in command[1:]]
        if "shapes" in args:  # 2 steps at 32 px: rendering the 64-px grid is not what is tested
            args += ["--image-size", "32"]
        if args[0] == "select":  # runs/a runs/b runs/c: the digits runs made above
            args = ["select", *map(str, sorted((tmp_path / "runs").glob("*gan-digits-*"))),
                    "--points", "200"]
        if args[0] == "run":
            if "--steps" in args:
                args[args.index("--steps") + 1] = "2"
            args += ["--quiet", "--backbone", "tiny"] + ([] if "--steps" in args
                                                         else ["--steps", "2"])
        for i, arg in enumerate(args):
            if arg.startswith("runs/<"):  # runs/<run>, runs/<infogan-run>, runs/<gan-run>
                method = "gan" if "gan-run" in arg and "infogan" not in arg else "infogan"
                args[i] = str(next((tmp_path / "runs").glob(f"{method}-digits-*")))
        if args[0] == "eval":
            args += ["--n", "60", "--bound-samples", "100"]
        if args[0] == "compare":  # "once each has an eval.json": the gan run's too
            done = run_cli("eval", args[2], "--n", "60", "--bound-samples", "100", cwd=tmp_path)
            assert done.returncode == 0, done.stderr
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, (args, done.stderr)
        ran.append(args[0])
    assert ran == ["run", "run", "eval", "compare", "run", "run", "run", "run", "select", "sample",
                   "sample", "run", "run", "run", "list", "plugins", "--version"]
    assert json.loads(run_cli("list", "codes", "--json").stdout)


def test_benchmarks_run_from_the_repository_root_only(tmp_path):
    command = [sys.executable, "-m", "benchmarks.infogan_vs_gan", "--help"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert subprocess.run(command, cwd=ROOT, capture_output=True, env=env).returncode == 0
    elsewhere = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert elsewhere.returncode != 0 and "No module named 'benchmarks'" in elsewhere.stderr
    assert "from the\nrepository root" in README or "from the repository root" in README


def test_slow_selects_real_tests():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow",
                           "-p", "no:cacheprovider", str(ROOT / "tests")],
                          capture_output=True, text=True, cwd=ROOT)
    selected = [line for line in done.stdout.splitlines() if "::" in line]
    assert selected, done.stdout + done.stderr


@pytest.mark.slow
def test_the_main_command_at_full_length_learns_the_digits(tmp_path):
    """The README's first screen as written (300 steps): InfoGAN's categorical code gets close to
    H = ln 10 and sorts the digits well above chance (0.1). Measured: L_I 2.28, accuracy 0.77."""
    for command in (s for s in steps(bash_blocks()[0]) if s[0] == "disentangle"):
        done = run_cli(*command[1:], *(["--quiet"] if command[1] == "run" else []), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    result = json.loads(next((tmp_path / "runs").glob("*/eval.json")).read_text())
    assert result["codes"]["c1"]["mi_lower_bound"] > 0.9 * result["codes"]["c1"]["entropy"]
    assert result["cluster_accuracy"] > 0.5
    assert result["probe"]["codes"]["accuracy"] > 0.6
