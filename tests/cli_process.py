"""The real `disentangle` command in its own process, without paying `import torch` each time.

One CLI subprocess spends seconds importing torch, scikit-learn and the plugins before it does
anything; the suite starts about 150 of them. A warm parent process (one per test worker) imports
all that once and forks a child per command. The child is a fresh process as far as a command can
tell: its own working directory, environment, stdin, stdout, stderr, exit code and signals, and
`sys.argv` as `python -m disentangle` sets it. What it shares with the parent are modules already
imported, so a command whose environment changes how a library starts (thread counts, CPU
kernels) goes to a plain subprocess instead (`needs_fresh`).

The parent never runs a torch operation, so the child starts without torch's thread pool, as a
fresh process does (numpy's OpenBLAS threads, started by its import, OpenBLAS itself stops and
restarts around fork). The child ends as the interpreter's exit begins (its threads joined, then
its atexit handlers, then stdout and stderr flushed) and then leaves through `os._exit`: the rest
of the teardown would touch every page inherited from the parent, seconds of copy-on-write per
command. The CLI writes its files through handles it closes or through raw file descriptors, so
that teardown has nothing left to save. What a command leaves running (a worker pool's tracker)
is killed when it exits; a fresh process's caller would wait for it instead.

`DISENTANGLE_TESTS_COLD=1 pytest` runs every command as a fresh process, as the suite did before.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

COLD = "DISENTANGLE_TESTS_COLD"
# environment variables a command reads while it runs, never at import: the warm parent serves
# commands whose environment differs from its own in these and PYTHONPATH only. The child puts
# PYTHONPATH's new entries where a fresh process has them or, when they hold a module the parent
# imported already (or drop an entry the parent had), becomes a fresh process (exec).
RUNTIME_ONLY = {"COLUMNS", "LINES", "NO_COLOR", "TERM", "PYTHONPATH",  # and DISENTANGLE_*
                "PYTEST_CURRENT_TEST"}  # pytest names the test running; nothing reads it

PARENT = r"""
import atexit, importlib, json, os, signal, sys, threading, traceback
def path_entries():
    return [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
PYTHONPATH = path_entries()
import torch, torchvision, sklearn.linear_model, sklearn.ensemble, h5py  # noqa: F401
from importlib import metadata
from disentangle import cli
cli._register_commands()
import disentangle.training.trainer, disentangle.evaluation  # noqa: F401
for ep in metadata.entry_points(group="disentangle"):
    try:
        ep.load()  # the built-in plugins' modules; the registry itself is made in each child
    except Exception:
        pass
requests, replies = os.fdopen(int(sys.argv[1]), "r"), os.fdopen(int(sys.argv[2]), "w")
replies.write("ready\n"); replies.flush()
for line in requests:
    job = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)  # its own group: a timeout kills what it started too
        requests.close(); replies.close()
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                                (1, job["stdout"], os.O_WRONLY),
                                (2, job["stderr"], os.O_WRONLY)):
            os.dup2(os.open(path, flags), fd)
        try:
            os.chdir(job["cwd"])
            os.environ.clear(); os.environ.update(job["env"])
            ours = path_entries()
            added = [os.path.abspath(e) for e in ours if e not in PYTHONPATH]
            shadowed = {n.partition(".")[0] for e in added if os.path.isdir(e)
                        for n in os.listdir(e)} & set(sys.modules)
            if (shadowed or not set(PYTHONPATH) <= set(ours)  # imports would differ, or
                    or any(not os.path.isdir(e) for e in added)):  # a zip: start afresh
                os.execv(sys.executable, [sys.executable, "-m", "disentangle", *job["args"]])
            sys.path[1:1] = added  # where PYTHONPATH's entries stand in a fresh process
            importlib.invalidate_caches()
        except BaseException:  # e.g. no such directory: say so where the test will look
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(127)
        main_py = os.path.join(os.path.dirname(os.path.dirname(cli.__file__)), "__main__.py")
        sys.argv = [main_py, *job["args"]]
        try:
            cli.main()
            code = 0
        except SystemExit as exc:  # as `python -m disentangle` turns it into an exit status
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if not isinstance(exc.code, (int, type(None))):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # what the interpreter's exit does first, then atexit
        atexit._run_exitfuncs()
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    replies.write(json.dumps({"pid": pid}) + "\n"); replies.flush()
    _, status = os.waitpid(pid, 0)
    try:  # what the command left running (a pool's tracker) ends with it
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
    replies.flush()
"""


def needs_fresh(env: dict[str, str], warm_env: dict[str, str]) -> bool:
    """True when `env` differs from the warm parent's `warm_env` in a variable that acts at
    import or library start (see RUNTIME_ONLY)."""
    changed = {k for k in env.keys() | warm_env.keys() if env.get(k) != warm_env.get(k)}
    return any(k not in RUNTIME_ONLY and not k.startswith("DISENTANGLE_") for k in changed)


class WarmParent:
    """The warm process of one test worker; started on first use, started again if it died."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.pending = b""
        self.started_env: dict[str, str] | None = None

    def env(self) -> dict[str, str]:
        """The environment the warm parent has (or, not started yet, will start with)."""
        return dict(self.started_env if self.proc is not None else os.environ)

    def _start(self) -> None:
        request_r, self.requests = os.pipe()
        self.replies, reply_w = os.pipe()
        self.pending = b""
        self.started_env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PARENT, str(request_r), str(reply_w)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(request_r, reply_w))
        os.close(request_r)
        os.close(reply_w)
        if self._reply(timeout=300) != "ready":
            self.close()
            raise RuntimeError("the warm CLI process did not start (pytest -s shows why)")

    def _reply(self, timeout: float | None) -> str | None:
        """The parent's next line, or None when none came within `timeout` seconds."""
        while b"\n" not in self.pending:
            if not select.select([self.replies], [], [], timeout)[0]:
                return None
            chunk = os.read(self.replies, 4096)
            if not chunk:
                raise RuntimeError("the warm CLI process died")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode()

    def run(self, args: list[str], env: dict[str, str], cwd: str, timeout: float):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        command = [sys.executable, "-m", "disentangle", *args]
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            out.touch()  # there to read even for a command killed before it opened them
            err.touch()
            job = {"args": args, "env": env, "cwd": cwd, "stdout": str(out), "stderr": str(err)}
            pid = None
            try:
                os.write(self.requests, (json.dumps(job) + "\n").encode())
                pid = json.loads(self._reply(timeout=60))["pid"]
                done = self._reply(timeout)
                if done is None:
                    _kill_group(pid)
                    if self._reply(timeout=60) is None:
                        raise RuntimeError("the warm CLI process did not reap a killed command")
            except BaseException:  # the replies may be out of step now: start afresh next time
                if pid is not None:
                    _kill_group(pid)
                self.close()
                raise
            if done is None:
                raise subprocess.TimeoutExpired(command, timeout, out.read_text(),
                                                err.read_text())
            return subprocess.CompletedProcess(command, json.loads(done)["returncode"],
                                               out.read_text(), err.read_text())

    def close(self) -> None:
        """End the warm process: it holds nothing a test needs, so without its teardown."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            os.close(self.requests)
            os.close(self.replies)
            self.proc = None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


WARM = WarmParent()
