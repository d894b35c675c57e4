"""The package layout: every labctl package folder is installed, drivers live in labctl."""

import importlib
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    found = {"labctl.drivers"}
    for init in (ROOT / "labctl").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    assert found == listed


def test_drivers_are_imported_inside_the_labctl_namespace():
    drivers = importlib.import_module("labctl.drivers")
    assert pathlib.Path(drivers.__file__).parent == ROOT / "drivers"


def test_cli_reports_version(capsys):
    from labctl import __version__, cli

    try:
        cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out
