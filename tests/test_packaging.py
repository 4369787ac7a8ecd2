"""The built wheel, not only the editable install, carries the core and every built-in plugin."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["disentangle", "disentangle_codes", "disentangle_backbones", "disentangle_datasets",
            "disentangle_infogan"]


def test_wheel_contains_every_package_and_entry_point(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("disentangle-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, f"{package} missing from {wheel.name}"
    assert "disentangle/cli/__init__.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[disentangle]" in text and "codes = disentangle_codes" in text
    assert "disentangle = disentangle.cli:main" in text
    assert not any(n.startswith("tests/") for n in names)
