"""labctl logs like a library: one logger per module under "labctl", a NullHandler only,
every run event as a record; ``labctl --log-level/--log-file`` configure it."""

from __future__ import annotations

import ast
import logging
import threading
from pathlib import Path

import pytest

import labctl
from labctl import cli, logsetup
from labctl.bench import open_bench
from labctl.bench.faults import SimFaults
from labctl.protocol import load_protocol
from labctl.runner.session import RunSession

ROOT = Path(labctl.__file__).parent
DRIVERS = ROOT.parent / "drivers"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    """Every labctl record (the way a lab's own handler would receive them)."""
    handler = Collect()
    logger = logging.getLogger("labctl")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_the_library_installs_only_a_null_handler():
    handlers = logging.getLogger("labctl").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    assert not [h for h in handlers if not isinstance(h, logging.NullHandler | Collect)]


def _logger_names(path: Path) -> list[str]:
    """The arguments of every ``logging.getLogger(...)`` call in a module (as source)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger":
            out.append(ast.unparse(node.args[0]) if node.args else "")
    return out


def test_every_module_logs_under_its_own_name():
    """``getLogger(__name__)`` everywhere (so all records are under "labctl"), except the
    package's own NullHandler and the logging setup naming the root "labctl"."""
    for path in [*ROOT.rglob("*.py"), *DRIVERS.rglob("*.py")]:
        for name in _logger_names(path):
            rel = path.relative_to(ROOT.parent)
            if rel.as_posix() in ("labctl/__init__.py", "labctl/logsetup.py"):
                assert name in ("'labctl'", "ROOT"), (rel, name)
            else:
                assert name == "__name__", (rel, name)


def test_every_run_event_is_a_log_record(protocols, tmp_path, records):
    path = protocols.write(tmp_path / "p.toml", name="logged", duration=1.0,
                           tasks=protocols.random_tasks(2))
    protocol = load_protocol(path)
    faults = SimFaults(gate_timeout_at_s=[0.5])

    def opener():
        return open_bench(protocol.bench, clock="fast", seed=1, faults=faults)

    result = RunSession(protocol, tmp_path / "r.h5", bench_opener=opener).run()
    assert result.status == "completed"
    text = [(r.name, r.levelname, r.getMessage()) for r in records]
    events = [m for n, _, m in text if n == "labctl.runner.events"]
    assert any(m.startswith("task 0/2 ") and "started" in m for m in events)
    assert any(m.startswith("task 1 completed: error ") and "free power" in m
               and "λ" in m for m in events)
    assert any(m.startswith("run completed; run file ") and str(result.path) in m
               for m in events)
    written = [(lvl, m) for n, lvl, m in text if n == "labctl.store.writer"]
    assert ("WARNING", "fault: gate controller: timeout: ") in [
        (lvl, m[:len("fault: gate controller: timeout: ")]) for lvl, m in written]
    assert any(lvl == "INFO" and m.startswith("recovered: gate controller") for lvl, m in written)


def test_an_aborted_run_logs_its_reason_as_a_warning(protocols, tmp_path, records):
    protocol = load_protocol(protocols.write(tmp_path / "p.toml", duration=30.0))
    session = RunSession(protocol, tmp_path / "r.h5", clock="paced")
    session.start()
    session.abort("operator went home")
    result = session.wait(120)
    assert result.status == "aborted"
    ends = [r for r in records if r.getMessage().startswith("run aborted")]
    assert ends and ends[-1].levelno == logging.WARNING
    assert "operator went home" in ends[-1].getMessage()


def test_log_file_and_level_from_the_command_line(tmp_path, capsys):
    log = tmp_path / "labctl.log"
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "bad.h5").write_bytes(b"garbage")
    code = cli.main(["--log-level", "debug", "--log-file", str(log), "runs", str(folder)])
    assert code == 0
    text = log.read_text()
    assert "DEBUG   MainThread labctl.catalog: " in text and "1 run files" in text
    assert "WARNING MainThread labctl.catalog: " in text and "listed as damaged" in text
    assert "WARNING labctl.catalog: " in capsys.readouterr().err
    # after the command the library is quiet again
    assert not logsetup.terminal_logging()
    assert logging.getLogger("labctl").propagate


def test_without_options_nothing_is_configured(tmp_path, capsys):
    assert cli.main(["runs", str(tmp_path)]) == 0
    assert "labctl." not in capsys.readouterr().err


def test_an_unwritable_log_file_is_refused_in_one_line(tmp_path, capsys):
    code = cli.main(["--log-file", str(tmp_path / "no" / "such" / "dir.log"), "runs",
                     str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "--log-file" in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_level_is_named():
    with pytest.raises(ValueError, match="--log-level: 'LOUD'; allowed DEBUG, INFO"):
        logsetup.parse_level("LOUD")


def test_a_stalled_log_destination_never_blocks_the_thread_that_logs(tmp_path):
    """Records go through a queue: a terminal that stopped reading (its writes block)
    cannot stall the acquisition thread's logging calls."""
    release = threading.Event()

    class StalledTerminal:
        def write(self, text: str) -> int:
            release.wait(60)
            return len(text)

        def flush(self) -> None:
            pass

    setup = logsetup.configure("INFO", stream=StalledTerminal())  # type: ignore[arg-type]
    assert setup is not None
    done = threading.Event()

    def acquisition() -> None:
        log = logging.getLogger("labctl.runner.test")
        for i in range(1000):
            log.warning("event %d", i)
        done.set()

    worker = threading.Thread(target=acquisition, daemon=True)
    worker.start()
    try:
        assert done.wait(60), "logging blocked on a stalled terminal"
    finally:
        release.set()
        setup.close()
