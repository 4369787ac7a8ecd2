"""What a benchmark keeps under --out is reused only when it was made as this call asks.

A benchmark called again with other settings (more steps, other run flags, other votes) used to
pick up the first call's runs and scores and print them under the new settings. Each kept result
now carries what it was made with. A score or a timing made otherwise is made again; a finished
run made otherwise is refused, never deleted, because it may have cost hours of a GPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

STAMP = "benchmark.json"  # in a run directory: how the benchmark trained and evaluated it


def training(method: str, dataset: str, seed: int, steps: int,
             run_args: tuple[str, ...]) -> dict[str, Any]:
    """What makes a run the run a benchmark asks for (the device is not: reports name it)."""
    return {"method": method, "dataset": dataset, "seed": seed, "steps": steps,
            "run_args": list(run_args)}


def json_key(path: Path, key: str) -> Any:
    """`key` of the JSON object in `path`; None when the file is missing, damaged or no object."""
    try:
        return json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def stamped(run: Path, part: str) -> dict[str, Any] | None:
    return json_key(run / STAMP, part)


def stamp(run: Path, part: str, value: dict[str, Any]) -> None:
    try:
        saved = json.loads((run / STAMP).read_text())
    except (OSError, ValueError):
        saved = {}
    (run / STAMP).write_text(json.dumps({**saved, part: value}, indent=1))


def finished_as(run: Path, wanted: dict[str, Any]) -> bool:
    """True when `run` finished training as `wanted` says; False when it has not finished (train
    or resume it). A finished run trained otherwise ends the benchmark with one line. The steps
    are the summary's (a resume by hand moves them), the rest the run's config.json; the run
    flags, which config.json holds only resolved, are compared where the benchmark stamped them."""
    if not (run / "summary.json").is_file():
        return False
    try:
        config = json.loads((run / "config.json").read_text())["config"]
        made = {k: config[k] for k in ("method", "dataset", "seed")}
        made["steps"] = json.loads((run / "summary.json").read_text())["steps"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.exit(f"error: {run} has a summary.json but cannot be read as a finished run ({exc}); "
                 "give another --out, or move that folder away")
    if (flags := stamped(run, "training")) is not None:
        made["run_args"] = flags.get("run_args")
    differ = {k: (made[k], wanted.get(k)) for k in made if made[k] != wanted.get(k)}
    if differ:
        said = "; ".join(f"{k} {old!r}, not {new!r}" for k, (old, new) in differ.items())
        sys.exit(f"error: {run} was trained with {said} as this call asks; give another --out, "
                 "or move that run away to train it again")
    return True


def check_all(runs: list[tuple[Path, dict[str, Any]]]) -> None:
    """Every run a benchmark will reuse, checked before any trains: a refusal raised in a worker
    came only after the other workers' runs had trained."""
    for run, wanted in runs:
        finished_as(run, wanted)


def identity(run: Path) -> list[Any]:
    """A run as a kept score knows it: its path, when it was made and how far it trained, so a
    run trained again in the same place is not taken for the one scored."""
    return [str(run), json_key(run / "config.json", "created"),
            json_key(run / "summary.json", "steps")]


def reusable(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """A kept result (JSON with a `made_with` entry) when it was made with `settings`."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("made_with") != settings:
        return None
    return {k: v for k, v in saved.items() if k != "made_with"}


def keep(path: Path, result: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "made_with": settings}, indent=1))
    return result
