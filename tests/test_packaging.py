"""The package layout and install story: every labctl package folder and shipped file is
installed, drivers live in labctl, runs go where docs/ARCHITECTURE.md says, the command
line imports a subcommand only when it runs, and a missing extra is one line, exit 2."""

import fnmatch
import importlib
import json
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

from labctl import cli, extras, paths
from labctl.protocol import load_protocol

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEMO = ROOT / "protocols" / "demo.toml"


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {"labctl.drivers", "labctl.shipped_protocols"}
    for init in (ROOT / "labctl").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    assert found == listed


def test_every_shipped_resource_is_package_data():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["labctl"]
    files = [p.relative_to(ROOT / "labctl").as_posix()
             for p in (ROOT / "labctl" / "resources").rglob("*") if p.is_file()]
    assert {"resources/benches/sim.toml", "resources/datasets/iris.csv"} <= set(files)
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert unshipped == []


def test_drivers_are_imported_inside_the_labctl_namespace():
    drivers = importlib.import_module("labctl.drivers")
    assert pathlib.Path(drivers.__file__).parent == ROOT / "drivers"


def test_cli_reports_version(capsys):
    from labctl import __version__

    try:
        cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


# --- shipped files and the runs folder -------------------------------------------------

def test_a_protocol_naming_bench_sim_gets_the_packaged_bench(tmp_path):
    protocol = tmp_path / "p.toml"
    protocol.write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    loaded = load_protocol(protocol)
    assert loaded.bench.path == paths.bench_file("sim")
    assert paths.bench_file("sim").is_relative_to(pathlib.Path(paths.__file__).parent)


def test_unknown_shipped_bench_names_the_shipped_ones():
    with pytest.raises(ValueError, match=r"'nope'.*shipped: lab1, sim"):
        paths.bench_file("nope")


def test_runs_go_to_the_data_dir_variable_first(tmp_path):
    project = tmp_path / "proj"
    (project / "data" / "runs").mkdir(parents=True)
    env = {paths.DATA_DIR_ENV: str(tmp_path / "store")}
    assert paths.runs_dir_source(project, env) == ("env", tmp_path / "store" / "runs")


def test_runs_go_to_the_nearest_project_folder(tmp_path):
    project = tmp_path / "proj"
    (project / "data" / "runs").mkdir(parents=True)
    deep = project / "notebooks" / "2026"
    deep.mkdir(parents=True)
    for env in ({}, {paths.DATA_DIR_ENV: ""}):  # an empty variable counts as unset
        assert paths.runs_dir_source(deep, env) == ("project", project / "data" / "runs")
    assert paths.project_dir(deep) == project


def test_runs_go_to_the_user_folder_outside_a_project(tmp_path):
    assert paths.project_dir(tmp_path) is None
    source, folder = paths.runs_dir_source(tmp_path, {})
    assert (source, folder) == ("user", paths.user_data_dir() / "runs")
    assert not folder.is_relative_to(ROOT)


def test_the_runner_writes_where_labctl_paths_says(tmp_path):
    """``labctl run`` without -o: RUNS_DIR is chosen from the environment and the folder."""
    code = "import labctl.runner.outputs as o; print(o.RUNS_DIR)"
    env = {k: v for k, v in os.environ.items() if k != paths.DATA_DIR_ENV}
    for extra, expected in (({paths.DATA_DIR_ENV: str(tmp_path / "d")}, tmp_path / "d"
                             / "runs"), ({}, paths.user_data_dir() / "runs")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=300, cwd=tmp_path, env={**env, **extra})
        assert pathlib.Path(out.stdout.strip()) == expected


# --- lazy imports ---------------------------------------------------------------------

def _heavy_modules_after(code: str) -> list[str]:
    heavy = ["numba", "scipy", "h5py", "serial", "pyvisa", "nidaqmx", "matplotlib",
             "pandas", "xarray", "dask", "PySide6", "pyqtgraph", "numpy"]
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=300, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_building_the_parser_and_printing_help_import_no_heavy_module():
    code = ("import contextlib, io, labctl.cli as c\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):"
            "\n    c.main(['--help'])")
    assert _heavy_modules_after(code) == []


def test_the_lambda_controller_imports_without_numba():
    loaded = _heavy_modules_after("from labctl.physics.control import LambdaController")
    assert "numba" not in loaded and "scipy" not in loaded


def test_physics_names_are_still_exported():
    import labctl.physics as physics

    for name in physics.__all__:
        assert getattr(physics, name).__name__ == name


def test_every_subcommand_loads_its_options():
    parser = cli.build_parser(load_all=True)
    subactions = [a for a in parser._actions if a.dest == "command"]
    names = set(subactions[0].choices)
    assert {c.name for c in cli.COMMANDS if c.group is None} | {"bench"} == names
    run = subactions[0].choices["run"]
    assert any("--output" in a.option_strings for a in run._actions)


def test_a_subcommand_gets_its_options_when_chosen(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--help"])
    assert exc.value.code == 0
    assert "--resume" in capsys.readouterr().out


# --- extras ---------------------------------------------------------------------------

def _block(monkeypatch, *modules: str) -> None:
    """Make ``modules`` unimportable in this process (None in sys.modules)."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_analyze_without_the_analysis_extra_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    _block(monkeypatch, "pandas")
    assert cli.main(["analyze", str(tmp_path / "x.h5"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == ("labctl analyze needs the 'analysis' extra (missing: pandas): "
                   "pip install 'labctl[analysis]'\n")


def test_gui_without_the_gui_extra_is_one_line_exit_2(monkeypatch, capsys):
    _block(monkeypatch, "pyqtgraph", "PySide6")
    assert cli.main(["gui"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(missing: PySide6, pyqtgraph)" in err
    assert "pip install 'labctl[gui]'" in err


def test_run_parallel_without_the_cluster_extra_is_refused_before_running(
        monkeypatch, capsys, tmp_path):
    _block(monkeypatch, "distributed")
    out = tmp_path / "r.h5"
    assert cli.main(["run", str(DEMO), "--parallel", "-o", str(out), "-q"]) == 2
    assert "labctl run needs the 'cluster' extra (missing: distributed)" in \
        capsys.readouterr().err
    assert not out.exists()


def test_an_optional_module_missing_past_the_checks_names_its_extra(monkeypatch, capsys):
    def handler(args):
        import xarray  # noqa: F401  (blocked: raises ModuleNotFoundError)

    _block(monkeypatch, "xarray")
    monkeypatch.setattr(cli, "cmd_demo", handler)
    assert cli.main(["demo"]) == 2
    assert "needs the 'analysis' extra (missing: xarray)" in capsys.readouterr().err


def test_require_extra_passes_when_installed_and_checks_its_name():
    extras.require_extra("analysis", ["json"])  # present: no error
    with pytest.raises(extras.MissingExtraError) as exc:
        extras.require_extra("cluster", ["labctl_no_such_module"], what="x")
    assert exc.value.extra == "cluster" and exc.value.missing == ("labctl_no_such_module",)
    with pytest.raises(ValueError, match="allowed: cluster, analysis, gui"):
        extras.require_extra("plots")
    assert extras.extra_of_module("dask.distributed") == "cluster"
    assert extras.extra_of_module("numpy") is None


def test_every_extra_is_declared_in_pyproject():
    declared = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras.EXTRAS) <= set(declared)
    assert declared["all"] == [f"labctl[{','.join(extras.EXTRAS)}]"]


def test_library_calls_needing_an_extra_name_it(monkeypatch):
    from labctl.store import tables

    _block(monkeypatch, "pandas", "xarray")
    with pytest.raises(extras.MissingExtraError, match=r"^Run\.summary\(\) needs the 'analysis'"):
        tables.run_summary(None)
    with pytest.raises(extras.MissingExtraError, match=r"labctl\[analysis\]"):
        tables.run_dataset(None)
