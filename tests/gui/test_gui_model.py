"""Display state without widgets: ring buffers, the run model, edge layout."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import numpy as np
import pytest

from labctl.gui.model import RunModel, TaskRow
from labctl.gui.network_view import edge_segments
from labctl.gui.params import format_value, parse_value
from labctl.gui.plots import peak_decimate, task_title, tick_texts
from labctl.gui.ringbuffer import RingBuffer
from labctl.network import periodic_lattice
from labctl.runner.events import Rows, TaskFinished, TaskStarted


def test_ring_buffer_keeps_newest_in_order_across_wraps():
    buf = RingBuffer(7)
    expected: list[float] = []
    rng = np.random.default_rng(3)
    for _ in range(50):
        chunk = rng.normal(size=int(rng.integers(0, 12)))
        buf.extend(chunk)
        expected.extend(chunk)
        np.testing.assert_array_equal(buf.view(), expected[-7:])
    assert buf.total == len(expected)
    buf.clear()
    assert len(buf) == 0 and buf.view().size == 0


def test_ring_buffer_refuses_zero_capacity():
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(0)


def _rows(index, t0, n, g0=1e-3, slope=1e-4):
    t = t0 + 0.02 * np.arange(n)
    g = g0 + slope * t[:, None] * np.ones((n, 32))
    return Rows(index, {
        "time": t, "error": np.exp(-t), "error_normalized": np.exp(-t),
        "power_free": np.full(n, 2e-4), "power_clamped": np.full(n, 2.1e-4),
        "energy": 1e-4 * t, "lambda": np.full(n, 0.03), "eta": np.full(n, 0.2),
        "gate_voltage": np.full((n, 32), 2.5), "conductance": g,
        "v_free": np.zeros((n, 16)), "v_clamped": np.zeros((n, 16))})


def test_run_model_tracks_task_rows_change_and_summary():
    model = RunModel(capacity=1000)
    model.apply(TaskStarted(0, 2, "a", {"lambda": 0.03}, 2.0))
    model.apply(_rows(0, 0.0, 60))
    model.apply(_rows(0, 1.2, 60))
    assert len(model.series("time")) == 120
    assert model.rows_seen[0] == 120
    # conductance grows 1e-4 S/s, so its change over the last second is about 1e-4 S
    np.testing.assert_allclose(model.conductance_change, 1e-4, rtol=0.1)
    model.apply(TaskFinished(0, "completed", {"error": 1e-3, "power_free": 2e-4,
                                              "lambda": 0.03}))
    model.apply(TaskStarted(1, 2, "b", {"lambda": 0.0}, 2.0))
    assert len(model.series("error")) == 0
    model.apply(_rows(0, 9.0, 5))  # late rows of another task are counted, not drawn
    assert len(model.series("error")) == 0 and model.rows_seen[0] == 125
    assert [(p.index, p.lam) for p in model.summary] == [(0, 0.03)]


def test_field_values_parse_numbers_and_lists_and_refuse_text():
    assert parse_value("0.22", "eta") == 0.22
    assert parse_value("0, 0.03", "lambda.values") == [0, 0.03]
    assert format_value([0.0, 0.03]) == "0, 0.03"
    with pytest.raises(ValueError, match="eta"):
        parse_value("fast", "eta")


def test_wraparound_edges_become_two_outward_stubs():
    net = periodic_lattice(4, 4)
    segs = edge_segments(net)
    assert len(segs) == net.n_edges
    wrapped = [i for i, s in enumerate(segs) if len(s) == 4]
    assert len(wrapped) == 8  # one horizontal and one vertical wrap per row/column
    for i in wrapped:
        s = segs[i]
        # each stub is half a bond long and leaves the 4x4 grid
        np.testing.assert_allclose(np.hypot(*(s[1] - s[0])), 0.5)
        np.testing.assert_allclose(np.hypot(*(s[3] - s[2])), 0.5)
        outside = (s[[1, 3], 0] < 0) | (s[[1, 3], 0] > 3) | (s[[1, 3], 1] > 0) \
            | (s[[1, 3], 1] < -3)
        assert outside.all()


def test_peak_decimation_keeps_spikes_and_bounds_the_point_count():
    x = np.arange(100_000) / 50.0
    y = np.sin(x)
    y[31_337] = 40.0  # a one-sample spike
    y[77_001] = np.nan  # a gap (non-positive value on a log axis)
    dx, dy = peak_decimate(x, y, 2000)
    assert len(dx) == len(dy) == 2000
    assert np.nanmax(dy) == 40.0 and np.nanmin(dy) == np.min(np.delete(y, 77_001))
    assert dx[0] == x[0] and dx[-1] == x[-1] and np.all(np.diff(dx) >= 0)
    sx, sy = peak_decimate(x[:500], y[:500], 2000)
    assert sx is not None and len(sx) == 500 and np.array_equal(sy, y[:500])


def test_task_rows_follow_the_plan_and_a_failed_task_gets_no_summary_point():
    model = RunModel(capacity=100)
    model.set_tasks([TaskRow(i, f"t{i}", params={"lambda": 0.03 * i}) for i in range(3)])
    model.apply(TaskStarted(0, 3, "t0", {"lambda": 0.0}, 1.0))
    assert [r.status for r in model.tasks.values()] == ["running", "pending", "pending"]
    model.apply(TaskFinished(0, "completed", {"error": 1e-3, "power_free": 2e-4,
                                              "lambda": 0.0}))
    model.apply(TaskStarted(1, 3, "t1", {"lambda": 0.03}, 1.0))
    model.apply(TaskFinished(1, "failed", {}))
    assert [r.status for r in model.tasks.values()] == ["completed", "failed", "pending"]
    assert [p.index for p in model.summary] == [0]


def test_task_table_shows_accuracy_of_dataset_tasks_in_percent(qtbot):
    from labctl.gui.task_table import TaskTable

    table = TaskTable()
    qtbot.addWidget(table)
    plain = TaskRow(0, "allostery", "completed", {"lambda": 0.03, "eta": 0.22},
                    {"lambda": 0.02983, "eta": 0.2171, "error": 2.7e-4, "power_free": 4.6e-4,
                     "energy": 2.799e-4})
    table.show_tasks([plain])
    assert [table.value(0, c) for c in range(9)] == [
        "0", "allostery", "completed", "0.03", "0.02983", "0.2171", "2.7×10⁻⁴ V²",
        "460 µW", "280 µJ"]
    assert table.isColumnHidden(9) and table.isColumnHidden(10)
    iris = TaskRow(1, "iris", "completed", {"kind": "classification"},
                   {"train_accuracy": 0.9583, "test_accuracy": 14 / 15})
    table.show_tasks([plain, iris])
    assert not table.isColumnHidden(9) and not table.isColumnHidden(10)
    assert (table.value(1, 9), table.value(1, 10)) == ("95.8 %", "93.3 %")
    assert (table.value(0, 9), table.value(1, 6)) == ("-", "-")


def test_live_plot_title_numbers_tasks_from_0_and_tells_requested_from_applied(qtbot):
    model = RunModel(capacity=100)
    model.apply(TaskStarted(2, 6, "edge", {"lambda": 0.03, "eta": 0.22}, 1.0))
    assert "task 2 of 0–5: edge" in task_title(model)
    assert "λ requested 0.03 " in task_title(model) + " "
    data = _rows(2, 0.0, 3).data
    data = {**data, "lambda": np.full(3, 0.02983), "eta": np.full(3, 28 / 129)}
    model.add_rows(2, data)
    title = task_title(model)
    assert "λ requested 0.03, applied 0.02983" in title
    assert "η requested 0.22, applied 0.2171" in title


def test_log_axis_ticks_use_one_notation_per_axis():
    decades = [1.0, 0.1, 0.01, 0.001, 1e-4]
    assert tick_texts(decades, "") == ["1", "10⁻¹", "10⁻²", "10⁻³", "10⁻⁴"]
    assert tick_texts([0.5, None, 0.2], "") == ["0.5", "", "0.2"]
    # a level of ticks inside the plain range still follows the axis's whole span
    assert tick_texts([0.1, 0.001], "", span=(5e-5, 1.2)) == ["10⁻¹", "10⁻³"]
    assert tick_texts([0.01, 0.1], "V²") == ["10⁻² V²", "10⁻¹ V²"]
    assert tick_texts([0.2, 0.5], "V²") == ["0.2 V²", "0.5 V²"]
    assert tick_texts([1e-4, 2e-4, 1e-3], "W") == ["100 µW", "200 µW", "1 mW"]


def test_live_plots_show_tick_values_only_with_data(qtbot):
    from labctl.gui.plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    model = RunModel(capacity=100)
    plots.update_from(model, force=True)

    def shown():
        return {(key, side): p.getAxis(side).style["showValues"]
                for key, p in plots.plots.items() for side in ("left", "bottom")}

    assert not any(shown().values())  # no stray "2 V², 5 V²" on empty log axes
    model.apply(TaskStarted(0, 1, "a", {"lambda": 0.03}, 1.0))
    model.apply(_rows(0, 0.0, 10))
    plots.update_from(model)
    assert all(shown().values())
    assert plots.plots["power"].getAxis("left").labelUnits == "W"


def test_time_axis_prefix_is_ms_for_short_tasks_and_never_ks(qtbot):
    from labctl.gui.plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    axis = plots.plots["power"].getAxis("bottom")
    if not hasattr(axis, "setSIPrefixEnableRanges"):
        pytest.skip("pyqtgraph < 0.14 has no SI prefix ranges")
    model = RunModel(capacity=1000)
    model.apply(TaskStarted(0, 1, "a", {"lambda": 0.03}, 1.0))
    model.apply(_rows(0, 0.0, 10))  # 0 .. 0.18 s
    plots.update_from(model)
    plots.grab()
    assert axis.labelUnitPrefix == "m"
    model.apply(_rows(0, 1500.0, 10))  # the task now spans 1500 s
    plots.update_from(model)
    plots.grab()
    assert axis.labelUnitPrefix == "" and axis.labelUnits == "s"
