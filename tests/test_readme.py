"""The README's first screen is what a newcomer runs: its commands must stay the ones that work."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def steps(block: str) -> list[list[str]]:
    return [shlex.split(part) for part in block.strip().split("&&")]


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
        done = run_cli(*args, *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (next((tmp_path / "runs").iterdir()) / "eval.json").is_file()
