"""Output paths: an existing run is never overwritten, every bad output path is refused as
bad input before any instrument opens, and a protocol's name can never steer a run file
out of the runs folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from labctl import cli
from labctl.protocol import load_protocol
from labctl.runner import outputs
from labctl.runner import session as session_mod
from labctl.runner.outputs import default_run_path, resumed_run_path, safe_stem
from labctl.runner.session import RunSession

HOSTILE_NAMES = [
    "../escape",
    "../../../../etc/passwd",
    "/absolute/path",
    "a/b\\c",
    "..",
    ".",
    ".hidden",
    "-rf",
    "",
    "   ",
    "tab\tnew\nline\x00nul\x1besc",
    "é漢字🙂",
    "CON",
    "x" * 10_000_000,
    "../" * 100_000,
]


@pytest.fixture
def forbid_instruments(monkeypatch):
    """Fail the test if anything tries to open an instrument."""
    import labctl.bench as bench_pkg

    def forbidden(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(bench_pkg, "open_bench", forbidden)
    monkeypatch.setattr(session_mod, "open_bench", forbidden)


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_a_protocol_name_becomes_a_safe_bounded_file_name_inside_the_runs_folder(
        tmp_path, name):
    runs = tmp_path / "runs"
    runs.mkdir()
    path = default_run_path(name, runs)
    assert path.parent == runs
    assert path.resolve().parent == runs.resolve()
    # stem, "-YYYYmmdd-HHMMSS-", 12 random hex digits, ".h5"
    assert len(os.fsencode(path.name)) <= outputs.MAX_STEM + 17 + 12 + 3
    assert not path.name.startswith((".", "-"))
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in path.name)
    assert path.suffix == ".h5"
    path.touch()  # the file system takes it
    assert path.exists()


def test_safe_stem_keeps_plain_names_readable():
    assert safe_stem("lambda-sweep_2024.v2") == "lambda-sweep_2024.v2"
    assert safe_stem("my run/with space") == "my_run_with_space"
    assert safe_stem("Café") == "Cafe"


def test_default_names_never_collide(tmp_path):
    # 48 random bits per name: 2000 names in one second collide with probability 7e-9
    names = {default_run_path("same", tmp_path) for _ in range(2000)}
    assert len(names) == 2000


def test_resumed_name_is_next_to_the_old_file_and_bounded(tmp_path):
    old = tmp_path / ("y" * 200 + ".h5")
    path = resumed_run_path(old)
    assert path.parent == tmp_path and "-resumed-" in path.name
    assert len(os.fsencode(path.name)) <= outputs.MAX_STEM + len("-resumed") + 17 + 12 + 3


@pytest.mark.parametrize("name", ["../../escape", "x" * 10_000_000, "a/../../b\x00c"],
                         ids=["dotdot", "10MB", "mixed"])
def test_a_run_of_a_hostile_protocol_name_stays_in_the_runs_folder(
        write_protocol, tmp_path, monkeypatch, name):
    runs = tmp_path / "deep" / "runs"
    monkeypatch.setattr(session_mod, "RUNS_DIR", runs)
    protocol = dataclasses.replace(load_protocol(write_protocol(duration=0.2)), name=name)
    before = set(tmp_path.rglob("*"))
    result = RunSession(protocol, seed=1).run()
    assert result.status == "completed", result.reason
    assert result.path.parent == runs
    assert set(tmp_path.rglob("*")) - before == {runs.parent, runs, result.path}


def _run(args: list[str], capsys) -> tuple[int, str]:
    code = cli.main(["run", *args, "-q"])
    return code, capsys.readouterr().err


def test_an_existing_run_file_is_refused_and_left_untouched(write_protocol, tmp_path, capsys,
                                                            forbid_instruments):
    out = tmp_path / "precious.h5"
    out.write_bytes(b"the only record of an experiment")
    code, err = _run([str(write_protocol()), "-o", str(out)], capsys)
    assert code == 2
    assert str(out) in err and "-o" in err and "Traceback" not in err
    assert out.read_bytes() == b"the only record of an experiment"


def test_a_planted_symlink_is_refused(write_protocol, tmp_path, capsys, forbid_instruments):
    target = tmp_path / "elsewhere.txt"
    link = tmp_path / "run.h5"
    link.symlink_to(target)  # dangling: following it would create elsewhere.txt
    code, err = _run([str(write_protocol()), "-o", str(link)], capsys)
    assert code == 2 and str(link) in err
    assert not target.exists()


@pytest.mark.parametrize("case", ["folder", "trailing_slash", "missing_parent", "parent_file",
                                  "long_name", "proc"])
def test_bad_output_paths_are_refused_before_any_instrument_opens(
        write_protocol, tmp_path, capsys, forbid_instruments, case):
    protocol = write_protocol()
    (tmp_path / "afile").write_text("x")
    out = {
        "folder": str(tmp_path),
        "trailing_slash": str(tmp_path / "new") + "/",
        "missing_parent": str(tmp_path / "no" / "such" / "run.h5"),
        "parent_file": str(tmp_path / "afile" / "run.h5"),
        "long_name": str(tmp_path / ("n" * 300 + ".h5")),
        # a folder nobody can create files in, root included (root ignores permission bits)
        "proc": "/proc/labctl-test-run.h5",
    }[case]
    code, err = _run([str(protocol), "-o", out], capsys)
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error:")
    assert out[:60] in err or str(Path(out))[:60] in err
    assert not os.path.isfile(out)


def test_a_read_only_file_system_is_refused(write_protocol, tmp_path, capsys,
                                            forbid_instruments):
    """A read-only mount stops root too: refused before any instrument opens."""
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        out = mount / "run.h5"
        code, err = _run([str(write_protocol()), "-o", str(out)], capsys)
        assert code == 2 and str(out) in err and "read-only" in err
        assert "Traceback" not in err
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the "
                    "/proc case covers a folder root cannot write")
def test_a_read_only_folder_is_refused(write_protocol, tmp_path, capsys, forbid_instruments):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    code, err = _run([str(write_protocol()), "-o", str(folder / "run.h5")], capsys)
    assert code == 2 and str(folder) in err


@pytest.mark.parametrize(("meta", "expect"), [
    (["novalue"], "KEY=VALUE"),
    (["bad key=1"], "allowed 1..64"),
    (["=x"], "allowed 1..64"),
    (["k" * 65 + "=x"], "allowed 1..64"),
    (["k=" + "v" * 5000], "at most 4096"),
    (["k=a\x07b"], "control"),
])
def test_bad_meta_is_refused_before_any_instrument_opens(write_protocol, tmp_path, capsys,
                                                         forbid_instruments, meta, expect):
    args = [str(write_protocol()), "-o", str(tmp_path / "m.h5")]
    for item in meta:
        args += ["--meta", item]
    code, err = _run(args, capsys)
    assert code == 2 and "--meta" in err and expect in err and "Traceback" not in err
    assert not (tmp_path / "m.h5").exists()


def test_negative_seed_is_refused(write_protocol, tmp_path, capsys, forbid_instruments):
    code, err = _run([str(write_protocol()), "-o", str(tmp_path / "s.h5"), "--seed", "-1"],
                     capsys)
    assert code == 2 and "seed" in err
