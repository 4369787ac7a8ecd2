"""Smoke test of the InfoGAN-vs-GAN benchmark: the quick plan, cut to a few steps and one seed,
must produce the report with every table and figure, and reuse its runs when run again."""

import pytest

from benchmarks import infogan_vs_gan


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    args = ["--quick", "--steps", "3", "--seeds", "0", "--out", str(out), "--device", "cpu"]
    infogan_vs_gan.main(args)
    return out, args


@pytest.mark.slow  # trains and evaluates 4 runs (GBT DCI on shapes): minutes on 2 cores
def test_report_has_every_table_and_figure(report):
    out, _ = report
    text = (out / "report.md").read_text()
    for heading in ("## digits", "## shapes", "Information term L_I", "cluster accuracy",
                    "probe on codes", "probe on features", "probe on pixels", "mig", "dci completeness",
                    "factor_vae", "beta_vae", "modularity", "training images/s",
                    "InfoGAN/GAN training time ratio", "Evaluation time", "Runs made on:", "cores;",
                    "Over seeds, InfoGAN is ahead on", "posX from codes"):
        assert heading in text, heading
    for figure in ("digits-info.png", "digits-traversal-c1.png", "shapes-info.png",
                   "shapes-mi-matrix.png"):
        assert (out / "figures" / figure).stat().st_size > 0, figure
        assert f"figures/{figure}" in text


@pytest.mark.slow
def test_rerun_reuses_finished_runs(report, capsys):
    out, args = report
    stamps = {p: p.stat().st_mtime for p in (out / "runs").glob("*/eval.json")}
    infogan_vs_gan.main(args)
    assert "$ disentangle" not in capsys.readouterr().out  # nothing trained or evaluated again
    assert stamps == {p: p.stat().st_mtime for p in (out / "runs").glob("*/eval.json")}
    longer = [("4" if a == "3" else a) for a in args]  # the same --out with more steps: refused
    with pytest.raises(SystemExit, match="was trained with steps 3, not 4 as this call asks"):
        infogan_vs_gan.main(longer)


@pytest.mark.parametrize("infogan, gan, expected", [
    ([0.8, 0.9], [0.3, 0.7], "InfoGAN ahead"),
    ([0.2, 0.3], [0.35, 0.9], "GAN ahead"),
    ([0.5, 0.9], [0.6, 0.7], "overlap"),
    ([0.5], [0.5], "overlap"),
    ([], [0.5], "-"),
])
def test_verdict_needs_every_seed_on_one_side(infogan, gan, expected):
    assert infogan_vs_gan.verdict(infogan, gan) == expected
