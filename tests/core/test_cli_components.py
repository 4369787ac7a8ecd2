import json

from tests.conftest import run_cli


def test_help_is_quick_and_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "plugins" in result.stdout and "list" in result.stdout


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from disentangle.cli import app, _register_commands; " \
           "_register_commands(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_list_codes_shows_the_builtins_as_json():
    result = run_cli("list", "codes", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"categorical", "uniform", "gaussian", "bernoulli"} <= set(rows)
    assert rows["uniform"]["posterior"] == "gaussian-fixed" and rows["uniform"]["plugin"] == "codes"


def test_list_with_pattern_and_table():
    result = run_cli("list", "posteriors", "gauss*")
    assert result.returncode == 0
    assert "gaussian-fixed" in result.stdout and "bernoulli" not in result.stdout
    nothing = run_cli("list", "codes", "zz*")  # was an empty table and exit 0
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert nothing.stderr.strip() == ("error: no codes match 'zz*'; `disentangle list codes` "
                                      "shows them all")
    assert json.loads(run_cli("list", "codes", "zz*", "--json").stdout) == []


def test_plugins_names_distribution_and_version():
    result = run_cli("plugins", "--json")
    infos = {info["name"]: info for info in json.loads(result.stdout)}
    assert infos["codes"]["distribution"] == "disentangle"
    assert "categorical" in infos["codes"]["registers"]["codes"]


def test_unknown_kind_is_one_line_error():
    result = run_cli("list", "priors")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown component kind 'priors' (known: codes, posteriors, backbones, datasets, methods)"
    ]


def test_parser_errors_are_one_line_too():
    result = run_cli("list", "codes", "--bogus")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: No such option: --bogus (see 'disentangle --help')"]


def test_no_arguments_shows_help():
    result = run_cli()
    assert result.returncode == 0 and "Commands" in result.stdout


def test_run_without_its_method_is_a_usage_error_with_the_commands_help():
    """Not a success (exit 0): a script that forgot the method must see it fail."""
    result = run_cli("run")
    assert result.returncode == 2 and result.stdout == ""
    assert "Usage: disentangle run" in result.stderr and "--dataset" in result.stderr


def test_version_matches_the_package_metadata():
    import tomllib
    from pathlib import Path

    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert done.stdout.strip() == f"disentangle {project['version']}"
