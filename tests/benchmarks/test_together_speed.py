"""Smoke test of the together-speed benchmark: every arrangement trains and lands in the table."""

import json

import pytest

from benchmarks import together_speed


@pytest.mark.slow  # five short digits runs in three arrangements: about a minute on 2 cores
def test_quick_table_has_every_arrangement(tmp_path, capsys):
    together_speed.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    for kind in together_speed.ARRANGEMENTS:
        assert f"| {kind} |" in out
    results = json.loads((tmp_path / "together_speed.json").read_text())
    assert [r["runs"] for r in results] == [1, 2, 2]
    assert all(rate > 0 for r in results for rate in r["per_run"])
