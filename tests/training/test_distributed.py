"""Data-parallel training through torchrun (disentangle/training/distributed.py): 2 gloo ranks on
CPU through the real CLI against a plain 1-rank run with the same global batch.

Tolerance: the logged losses of the first steps agree within 1e-4. Two ranks sum in another order
than one, so float32 rounding differs (measured: at most 1.3e-6 over the first 3 steps); without
the global batch norm the first step's losses already differ by up to 4e-3, so the check has
teeth. Later steps of a fresh run drift further apart (4.6e-4 by step 6): Adam's first update
moves every weight by about the learning rate, so rounding-sized gradients make full-sized steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from disentangle.training import resolve, train

from .test_cli_run import cli, one_error_line

STEPS = 3
TOLERANCE = 1e-4
GPU_TOLERANCE = 1e-3  # with --deterministic; a real difference (rows, latents) is far larger
ARGS = ["--dataset", "digits", "--backbone", "tiny", "--batch-size", "16", "--log-every", "1",
        "--score-every", "0", "--device", "cpu"]  # tiny has batch norm in G and D


def torchrun(ranks: int, *args, cwd: Path):
    """`python -m torch.distributed.run --standalone --nproc-per-node N -m disentangle ...`
    (torchrun's own module; --standalone picks a free port, so parallel test runs never clash)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={ranks}", "-m", "disentangle", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=os.environ.copy())


def losses(run: Path) -> list[dict[str, float]]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k in ("step", "loss_d", "loss_g")
             or k.startswith("info/")} for line in lines]


def assert_close(got: list[dict[str, float]], want: list[dict[str, float]],
                 tolerance: float = TOLERANCE) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for key in w:
            assert abs(g[key] - w[key]) <= tolerance, (g["step"], key, g[key], w[key])


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory) -> Path:
    """The reference: a plain single-process run of STEPS steps with the same global batch."""
    out = tmp_path_factory.mktemp("one") / "run"
    overrides = {"dataset": "digits", "backbone": "tiny", "batch_size": 16, "log_every": 1,
                 "score_every": 0, "device": "cpu", "steps": STEPS, "threads": 1,
                 "out": str(out)}
    train(resolve("infogan", overrides))
    return out


def test_two_gloo_ranks_match_one_rank_and_only_rank_0_writes(tmp_path, one_rank):
    done = torchrun(2, "run", "infogan", *ARGS, "--steps", STEPS, "--out", "r", "--json",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # one JSON document: rank 1 printed nothing
    assert summary["data_parallel"] == {"world_size": 2, "backend": "gloo",
                                        "global_batch_size": 16, "batch_size_per_rank": 8}
    run = tmp_path / "r"
    meta = json.loads((run / "config.json").read_text())
    assert meta["data_parallel"]["world_size"] == 2
    assert meta["config"]["batch_size"] == 16  # --batch-size is the global batch
    assert_close(losses(run), losses(one_rank))
    # rank 0 alone wrote: nothing beside the run directory, the same files as a plain run's
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == \
        sorted(p.relative_to(one_rank) for p in one_rank.rglob("*"))
    assert "error:" not in done.stderr and "Traceback" not in done.stderr  # (torchrun's own
    # notes, about OMP_NUM_THREADS or the host name, may come; they are not ours)


def test_resume_on_two_ranks_continues_a_one_rank_run(tmp_path, one_rank):
    overrides = {"dataset": "digits", "backbone": "tiny", "batch_size": 16, "log_every": 1,
                 "score_every": 0, "device": "cpu", "steps": STEPS - 1, "threads": 1,
                 "out": str(tmp_path / "r")}
    train(resolve("infogan", overrides))  # 1 rank, stopped one step early
    done = torchrun(2, "run", "infogan", "--out", "r", "--resume", "--steps", STEPS, "--quiet",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_close(losses(tmp_path / "r"), losses(one_rank))
    meta = json.loads((tmp_path / "r" / "config.json").read_text())
    assert meta["data_parallel"]["world_size"] == 2  # the resumed session's ranks
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["data_parallel"]["batch_size_per_rank"] == 8


# a process of its own: torch._dynamo must not be imported yet when the group is made
NO_THREADS_LEFT = textwrap.dedent("""
    import os, socket, torch
    from disentangle.training import distributed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1")
    distributed._join_group(torch.device("cpu"))
    weight = torch.nn.Parameter(torch.ones(2))
    weight.grad = torch.ones(2)
    torch.optim.Adam([weight], fused=True).step()  # imports torch._dynamo, as training does
    distributed.close(wait=True)
    tasks = "/proc/self/task"
    print(" ".join(sorted(open(f"{tasks}/{t}/comm").read().strip() for t in os.listdir(tasks))))
""")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads threads from /proc")
def test_no_gloo_thread_outlives_the_process_group():
    """Threads the group started must end with close(), not at interpreter shutdown
    (distributed._join_group says why: measured, they did once Adam's step had run)."""
    done = subprocess.run([sys.executable, "-c", NO_THREADS_LEFT], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gloo" not in done.stdout, done.stdout


@pytest.mark.parametrize("rank, prefix", [("0", ""), ("1", "rank 1: ")])
def test_batch_that_does_not_divide_among_ranks_is_one_error(capsys, tmp_path, monkeypatch,
                                                             rank, prefix):
    """The check runs before the process group is joined: torchrun's environment suffices."""
    for name, value in (("WORLD_SIZE", "2"), ("RANK", rank), ("LOCAL_RANK", rank)):
        monkeypatch.setenv(name, value)
    code, _, err = cli(capsys, "run", "infogan", *ARGS, "--batch-size", "15", "--steps", "1",
                       "--out", tmp_path / "r", "--quiet")
    assert code == 1
    assert one_error_line(err) == (
        f"error: {prefix}--batch-size 15 is the global batch and must divide evenly among the 2 "
        "ranks torchrun started; use a multiple of 2 (e.g. 14 or 16)")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("rank, prefix", [("0", ""), ("1", "rank 1: ")])
def test_seeds_under_torchrun_is_one_error_naming_the_rank(capsys, tmp_path, monkeypatch, rank,
                                                           prefix):
    for name, value in (("WORLD_SIZE", "2"), ("RANK", rank), ("LOCAL_RANK", rank)):
        monkeypatch.setenv(name, value)
    code, _, err = cli(capsys, "run", "infogan", *ARGS, "--seeds", "0-1", "--steps", "1",
                       "--out", tmp_path / "r", "--quiet")
    assert code == 1
    assert one_error_line(err) == (f"error: {prefix}--seeds cannot run under torchrun: launch "
                                   "one torchrun job per seed")
    assert not (tmp_path / "r").exists()


@pytest.mark.gpu
def test_torchrun_with_one_rank_matches_the_plain_path_on_cuda(tmp_path):
    # deterministic kernels: without them two plain runs of this command were 5e-3 apart in
    # loss_d by step 4 on an H200, and this 1-rank run was as far from the plain one
    args = ["run", "infogan", "--dataset", "digits", "--steps", "5", "--batch-size", "64",
            "--log-every", "1", "--score-every", "0", "--device", "cuda", "--deterministic",
            "--quiet"]
    plain = subprocess.run([sys.executable, "-m", "disentangle", *args, "--out", "plain"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stderr
    done = torchrun(1, *args, "--out", "ranked", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_close(losses(tmp_path / "ranked"), losses(tmp_path / "plain"), GPU_TOLERANCE)
    meta = json.loads((tmp_path / "ranked" / "config.json").read_text())
    assert meta["data_parallel"]["world_size"] == 1


def test_a_nan_on_the_ranks_stops_them_together(tmp_path):
    """Losses are summed over ranks at log and checkpoint steps, so a non-finite value on any
    rank stops every rank at the same step with the same message."""
    args = [*ARGS[:ARGS.index("--log-every")], *ARGS[ARGS.index("--log-every") + 2:]]
    done = torchrun(2, "run", "infogan", *args, "--steps", "20", "--log-every", "5",
                    "--lr-d", "1e30", "--lr-g", "1e30", "--out", "r", "--quiet", cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    message = "loss_d became not finite between steps 1 and 5; training stopped"
    assert any(line.startswith(f"error: {message}") for line in errors), done.stderr
    assert all(message in line for line in errors), errors
    assert not (tmp_path / "r" / "checkpoints" / "latest.pt").exists()
