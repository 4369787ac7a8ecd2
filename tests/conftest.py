import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from disentangle.registry import Registry, set_registry
from tests.cli_process import COLD, WARM, needs_fresh

collect_ignore = ["example_plugin"]  # the plugin's own tests run through test_third_party_plugin

EXAMPLE_PLUGIN = Path(__file__).parent / "example_plugin"


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory):
    """Keep dataset caches out of the user's ~/.cache; shared by the whole session (and the CLI
    subprocesses, which inherit the environment) so embedded datasets convert once."""
    os.environ["DISENTANGLE_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True, scope="session")
def _warm_cli_process():
    """run_cli's warm parent process lives as long as this test process's session."""
    yield
    WARM.close()


@pytest.fixture
def use_registry():
    """Install a registry with extra throwaway plugins for one test, then restore the old one."""
    previous = []

    def install(*plugins, entry_points=True):
        registry = Registry(plugins=plugins, entry_points=entry_points)
        previous.append(set_registry(registry))
        return registry

    yield install
    if previous:
        set_registry(previous[0])


@pytest.fixture
def fake_site(tmp_path):
    """A directory that looks like site-packages to importlib.metadata: `add(package_dir,
    dist_name, entry_points)` installs a plugin there without pip or network."""
    site = tmp_path / "site"
    site.mkdir()

    def add(package: Path, dist: str, entry_points: dict[str, str], version: str = "0.1.0"):
        shutil.copytree(package, site / package.name)
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[disentangle]\n{lines}\n")
        return site

    return add


def short_digits_run(root: Path, name: str = "run") -> Path:
    """A 3-step InfoGAN run on the embedded digits with the tiny backbone (seconds), trained
    through the real CLI: a real run directory for the commands that read one."""
    done = run_cli("run", "infogan", "--dataset", "digits", "--backbone", "tiny", "--steps", "3",
                   "--batch-size", "16", "--quiet", "--out", root / name, cwd=root)
    assert done.returncode == 0, done.stderr
    return root / name


def run_cli(*args, env=None, cwd=None, timeout=600, fresh=False):
    """The real `disentangle` command in a process of its own: forked from a warm parent that
    has imported torch already (tests/cli_process.py), or a plain subprocess when `fresh`, under
    DISENTANGLE_TESTS_COLD=1, or when the environment differs from the parent's in what acts at
    import."""
    full_env = {**os.environ, **(env or {})}
    args = [str(a) for a in args]
    if fresh or os.environ.get(COLD) == "1" or needs_fresh(full_env, WARM.env()):
        return subprocess.run([sys.executable, "-m", "disentangle", *args], capture_output=True,
                              text=True, env=full_env, cwd=cwd, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    return WARM.run(args, full_env, str(cwd or os.getcwd()), timeout)


def pytest_runtest_setup(item):
    """Tests marked `gpu` need CUDA and skip without it (see the markers in pyproject.toml)."""
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs CUDA")
