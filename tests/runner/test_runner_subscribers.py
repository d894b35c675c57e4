"""Several consumers follow one run: each subscription has its own bounded queue, and a
consumer that never reads can neither block nor slow acquisition nor lose file rows."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from labctl.protocol import load_protocol
from labctl.runner.events import (
    EventQueue,
    LogMessage,
    Progress,
    Rows,
    RunFinished,
    StateChanged,
    Subscription,
    TaskFinished,
    TaskStarted,
)
from labctl.runner.session import RunSession
from labctl.store import open_run

TASK_LEVEL = (TaskStarted, TaskFinished, StateChanged, RunFinished)


def _task_level(events: list) -> list:
    return [e for e in events if isinstance(e, TASK_LEVEL)]


def _key(event) -> tuple:
    """What identifies a task-level event (its type, task and status)."""
    return (type(event).__name__, getattr(event, "index", None),
            getattr(event, "status", getattr(event, "state", None)))


def test_a_subscriber_that_never_reads_does_not_block_the_run(protocols, tmp_path):
    protocol = load_protocol(protocols.write(tmp_path / "p.toml", duration=2.0,
                                             tasks=protocols.random_tasks(2)))
    session = RunSession(protocol, tmp_path / "r.h5", clock="fast", seed=1)
    stalled = session.subscribe(maxsize=2, name="stalled notebook")
    reader = session.subscribe(maxsize=100_000, name="display")
    seen: list = []
    stop = threading.Event()

    def follow() -> None:  # a consumer that keeps up, on its own thread
        while not stop.is_set():
            event = reader.get(timeout=0.05)
            if event is not None:
                seen.append(event)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    result = session.run()  # would hang if publishing waited for the stalled queue
    stop.set()
    thread.join(30)
    seen.extend(reader.drain())
    assert result.status == "completed"
    # the stalled subscriber lost display events only, and says how many
    kept = stalled.drain()
    assert stalled.dropped > 0 and stalled.dropped_kept == 0
    assert sum(isinstance(e, Rows | Progress) for e in kept) <= 2
    # both subscribers saw every task-level event, in the same order
    assert [_key(e) for e in _task_level(kept)] == [_key(e) for e in _task_level(seen)]
    started = [e.index for e in kept if isinstance(e, TaskStarted)]
    finished = [e.index for e in kept if isinstance(e, TaskFinished)]
    assert started == finished == [0, 1]
    assert isinstance(kept[-1], RunFinished) and kept[-1].path == str(result.path)
    # the reader that kept up lost nothing: its rows are the file's rows
    assert reader.dropped == 0
    with open_run(result.path) as run:
        for task in run.tasks:
            rows = [e.data["time"] for e in seen if isinstance(e, Rows) and e.index == task.index]
            np.testing.assert_array_equal(np.concatenate(rows), task.time)


def test_the_session_queue_is_one_subscriber_among_others(protocols, tmp_path):
    protocol = load_protocol(protocols.write(tmp_path / "p.toml", duration=1.0))
    session = RunSession(protocol, tmp_path / "r.h5")
    other = session.subscribe()
    late_closed = session.subscribe()
    late_closed.close()
    assert session.events.subscribers == (session.events, other)
    session.run()
    mine, theirs = session.events.drain(), other.drain()
    assert [_key(e) for e in _task_level(mine)] == [_key(e) for e in _task_level(theirs)]
    assert late_closed.drain() == []


def test_a_full_subscription_drops_display_events_and_keeps_the_others():
    sub = Subscription(maxsize=2)
    rows = Rows(0, {"time": np.zeros(1)})
    assert sub.offer(rows) and sub.offer(rows)
    assert not sub.offer(rows) and not sub.offer(Progress(1, 2, 3, 0, 4))
    assert sub.offer(LogMessage("kept")) and sub.offer(TaskFinished(0, "completed", {}))
    assert sub.dropped == 2
    sub.MAX_KEPT = 1  # beyond maxsize + MAX_KEPT even task-level events are dropped
    assert not sub.offer(LogMessage("one too many"))
    assert sub.dropped_kept == 1
    assert [type(e).__name__ for e in sub.drain()] == ["Rows", "Rows", "LogMessage",
                                                       "TaskFinished"]


def test_publishing_reaches_every_open_subscriber_in_order():
    bus = EventQueue(maxsize=10)
    a, b = bus.subscribe(5, "a"), bus.subscribe(5, "b")
    for i in range(3):
        bus.put(LogMessage(f"line {i}"))
    b.close()
    bus.put(LogMessage("after b closed"))
    assert [e.text for e in a.drain()] == ["line 0", "line 1", "line 2", "after b closed"]
    assert [e.text for e in b.drain()] == ["line 0", "line 1", "line 2"]
    assert len(bus.drain()) == 4


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, "10"])
def test_a_subscription_size_must_be_a_positive_integer(maxsize):
    with pytest.raises(ValueError, match="maxsize"):
        EventQueue().subscribe(maxsize)


def test_run_events_jsonl_gives_scripts_one_json_object_per_line(protocols, tmp_path,
                                                                  capsys):
    from labctl import cli

    path = protocols.write(tmp_path / "p.toml", name="scripted", duration=1.0,
                           tasks=protocols.random_tasks(2))
    out = tmp_path / "r.h5"
    assert cli.main(["run", str(path), "-o", str(out), "--events", "jsonl"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]  # nothing else
    kinds = [x["event"] for x in lines]
    assert all(isinstance(x["t"], float) for x in lines)
    task_level = [(x["event"], x.get("task")) for x in lines
                  if x["event"] in ("task_started", "task_finished")]
    assert task_level == [("task_started", 0), ("task_finished", 0),
                          ("task_started", 1), ("task_finished", 1)]
    assert kinds[-1] == "finished"
    assert (lines[-1]["status"], lines[-1]["path"]) == ("completed", str(out))
    progress = [x for x in lines if x["event"] == "progress"]
    assert progress and all(0 <= x["fraction"] <= 1 for x in progress)
    assert progress[-1]["done_s"] == pytest.approx(progress[-1]["total_s"])
    done = next(x for x in lines if x["event"] == "task_finished")
    assert done["status"] == "completed" and 0 < done["final"]["error"] < 1
    assert {"state", "running"} <= {v for x in lines for v in (x["event"], x.get("state"))}
    assert "\r" not in captured.err  # no progress bar


def test_events_as_json_objects():
    from labctl.runner.events import event_to_json

    assert event_to_json(Rows(0, {"time": np.zeros(2)})) is None
    fault = event_to_json(LogMessage("fault: gate controller: timeout: no reply", "warning"))
    assert fault is not None and (fault["event"], fault["text"]) == (
        "fault", "gate controller: timeout: no reply")
    rec = event_to_json(LogMessage("recovered: gate controller: resynchronised", "info"))
    assert rec is not None and rec["event"] == "recovered"
    line = event_to_json(TaskFinished(3, "completed", {"error": np.float64(2e-4),
                                                       "lambda": float("nan")}))
    assert line is not None
    assert line["final"] == {"error": 2e-4, "lambda": None}
    json.dumps(line, allow_nan=False)
    prog = event_to_json(Progress(5.0, 0.0, float("nan"), 0, 1.0))
    assert prog is not None and prog["fraction"] is None and prog["sample_rate"] is None


def test_an_event_is_timed_when_it_happens_not_when_it_is_printed(monkeypatch):
    """The CLI prints events every 0.2 s or so; each JSON object's ``t`` is when the event
    was created (benchmarks time runs from these), and ``t`` plays no part in equality."""
    import time

    from labctl.runner.events import event_to_json

    before = time.time()
    event = TaskFinished(3, "completed", {"error": 1e-4})
    assert before <= event.t <= time.time()
    monkeypatch.setattr(time, "time", lambda: event.t + 0.7)  # printed 0.7 s later
    line = event_to_json(event)
    assert line is not None and line["t"] == round(event.t, 3)
    assert event == TaskFinished(3, "completed", {"error": 1e-4}, t=event.t - 5.0)
