"""Live plots of the current task and the sweep summary (pyqtgraph).

Curves are redrawn with ``setData`` from the ring buffers of a :class:`RunModel`, clipped
to the visible time range and peak-decimated to two points per pixel column, so
100k-sample histories stay smooth.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from labctl.bench.gate_encoding import LAMBDA_MAX
from labctl.gui.model import RunModel
from labctl.units import (
    PLAIN_RANGE,
    PLAIN_RANGE_EXPONENT_UNIT,
    format_si,
    sci,
    task_label,
)

#: per plot: (key, title, y label, y unit, log y, curves as (model field, legend name,
#: pen colour)). Units go through pyqtgraph's SI prefixes on linear axes (µW, mJ) and
#: into every tick of a log axis (V² ticks in scientific notation, never a prefix).
PLOTS: tuple[tuple[str, str, str, str, bool, tuple[tuple[str, str, str], ...]], ...] = (
    ("error", "Error L", "L", "V²", True, (("error", "L", "#1565c0"),)),
    ("error_normalized", "Normalised error L/L₀", "L/L₀", "", True,
     (("error_normalized", "L/L₀", "#6a1b9a"),)),
    ("power", "Power", "P", "W", False, (("power_free", "free P_F", "#2e7d32"),
                                         ("power_clamped", "clamped P_C", "#ef6c00"))),
    ("lambda", "λ applied (gain stage)", "λ", "", False, (("lambda", "λ", "#c62828"),)),
    ("energy", "Training energy", "E", "J", False, (("energy", "E", "#37474f"),)),
)


#: bench-time axes use SI prefixes (ms) only while the task is shorter than this (s)
TIME_PREFIX_MAX_S = 999.0


class LogAxis(pg.AxisItem):
    """A log-scale axis in ``unit`` that labels only the 1, 2 and 5 × 10ⁿ ticks (no
    crowded labels), each tick written by :func:`labctl.units.format_si` (``200 µW``,
    ``5×10⁻⁵ V²``, ``0.5``). The unit is in the ticks, so the axis label carries none."""

    def __init__(self, orientation: str, unit: str = "", **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.unit = unit
        self.enableAutoSIPrefix(False)

    def logTickStrings(self, values: list[float], scale: float,
                       spacing: float) -> list[str]:
        """Labels for ticks at log10 positions ``values``; other mantissas stay blank."""
        keep = []
        for v in values:
            mant = 10 ** (v - np.floor(v + 1e-9))
            keep.append(any(abs(mant - m) < 0.05 * m for m in (1.0, 2.0, 5.0)))
        if sum(keep) < 2:  # less than a decade on display: label every other tick
            keep = [i % 2 == 0 for i in range(len(values))]
        # pyqtgraph asks for each tick level separately: the notation follows the
        # axis's whole range, so the levels agree
        lo, hi = (10.0 ** float(r) for r in self.range)
        return tick_texts([10 ** v if k else None for v, k in zip(values, keep, strict=True)],
                          self.unit, (lo, hi))


def tick_texts(values: list[float | None], unit: str,
               span: tuple[float, float] | None = None) -> list[str]:
    """Labels of log-axis ticks (None: unlabelled) in one notation for the whole axis:
    plain (``0.5``, ``0.25 V²``) or SI-prefixed (``200 µW``) when every labelled value and
    the ends of ``span`` (the axis range) allow it, else scientific for all (``1``,
    ``10⁻¹``, ``10⁻² V²``), never mixed."""
    shown = [v for v in values if v is not None] + list(span or ())
    prefixed = bool(unit) and not any(m in unit for m in "²³^")
    low, high = PLAIN_RANGE_EXPONENT_UNIT if unit else PLAIN_RANGE
    if prefixed or all(low <= v < high for v in shown):
        return [format_si(v, unit, digits=2) if v is not None else "" for v in values]
    suffix = f" {unit}" if unit else ""
    return [sci(v, 2) + suffix if v is not None else "" for v in values]


def peak_decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """At most ``max_points`` points that draw like (x, y): the samples are cut into
    ``max_points // 2`` consecutive bins and each bin is replaced by its minimum and maximum
    (NaN-aware), so spikes stay visible. Rows are evenly spaced in time, so bins are
    index ranges."""
    n = len(x)
    if n <= max_points:
        return x, y
    bins = max(1, max_points // 2)
    edges = np.linspace(0, n, bins + 1).astype(np.intp)
    starts = edges[:-1]
    out_x = np.empty(2 * bins)
    out_y = np.empty(2 * bins)
    out_x[0::2] = x[starts]
    out_x[1::2] = x[edges[1:] - 1]
    out_y[0::2] = np.fmin.reduceat(y, starts)
    out_y[1::2] = np.fmax.reduceat(y, starts)
    return out_x, out_y


def _requested_applied(requested: object, applied: float, digits: int = 4) -> str:
    """``requested 0.03, applied 0.0298`` (or just the one that is known)."""
    req = format_si(float(requested), digits=digits) \
        if isinstance(requested, int | float) and not isinstance(requested, bool) else ""
    app = format_si(applied, digits=digits) if np.isfinite(applied) else ""
    if req and app:
        return f"requested {req}, applied {app}"
    return f"requested {req}" if req else (f"applied {app}" if app else "-")


def task_title(model: RunModel) -> str:
    """The live plots' header: the task (numbered from 0, as in the run file), its name,
    λ and η as requested by the plan and as applied on the bench (quantised by the gain
    and η potentiometers), and the rows shown."""
    task = model.task
    if task.index < 0:
        return "no task running"
    lam, eta = model.series("lambda"), model.series("eta")
    applied_lam = float(lam[-1]) if len(lam) else float("nan")
    applied_eta = float(eta[-1]) if len(eta) else float("nan")
    return (f"{task_label(task.index, task.n_tasks)}: {task.name} "
            f"({len(model.series('time'))} rows)<br><span style='font-size: 9pt'>"
            f"λ {_requested_applied(task.params.get('lambda'), applied_lam)}  ·  "
            f"η {_requested_applied(task.params.get('eta'), applied_eta)}</span>")


def _positive(y: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-positive samples become NaN (gaps, not errors)."""
    return np.where(y > 0, y, np.nan)


class LivePlots(pg.GraphicsLayoutWidget):
    """Error (log), normalised error (log), free/clamped power, λ(t) and training energy
    against bench time (s) for the task on display."""

    def __init__(self, parent: QWidget | None = None, *, downsample: bool = True) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.downsample = downsample
        self.samples = 0  #: history samples behind each curve at the last redraw
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, tuple[pg.PlotDataItem, bool]] = {}
        self._drawn = -1
        self.title = self.addLabel("no task running", row=0, col=0, colspan=2, size="11pt")
        for n, (key, title, label, unit, logy, curves) in enumerate(PLOTS):
            last = n == len(PLOTS) - 1
            axes = {"left": LogAxis("left", unit)} if logy else None
            plot = self.addPlot(row=1 + n // 2, col=n % 2, colspan=2 if last else 1,
                                axisItems=axes)
            plot.setTitle(title, size="10pt")
            plot.setLabel("bottom", "bench time", units="s")
            bottom = plot.getAxis("bottom")
            if hasattr(bottom, "setSIPrefixEnableRanges"):  # pyqtgraph >= 0.14
                # ms early in a task, s afterwards, never "ks" (people read 1500 s, not 1.5 ks)
                bottom.setSIPrefixEnableRanges(((0.0, TIME_PREFIX_MAX_S),))
            if logy:
                plot.setLabel("left", label)  # the unit is in each tick
            else:
                plot.setLabel("left", label, units=unit or None)
                if not unit:  # dimensionless: no "(x0.001)" scaling of the ticks
                    plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setLogMode(False, logy)
            if len(curves) > 1:
                plot.addLegend(offset=(-5, 5), labelTextSize="9pt")
            for field, name, colour in curves:
                item = plot.plot(pen=pg.mkPen(colour, width=1), name=name)
                self.curves[field] = (item, logy)
            plot.getViewBox().sigXRangeChanged.connect(self._view_changed)
            if key == "lambda":  # the gain stage's whole range, not an autorange of ±0.4
                plot.enableAutoRange(axis="y", enable=False)
                plot.setYRange(0.0, LAMBDA_MAX, padding=0.02)
            self.plots[key] = plot
        self._values_shown = True
        self._show_values(False)

    def update_from(self, model: RunModel, force: bool = False) -> bool:
        """Redraw from ``model`` if it changed (or ``force``); True if something was drawn.

        With downsampling, each curve gets only the samples inside its visible time range
        (all of them while auto-ranging), peak-decimated to two points per pixel column.
        """
        if model.version == self._drawn and not force:
            return False
        self._drawn = model.version
        t = model.series("time")
        self.samples = len(t)
        self._show_values(len(t) > 0)
        for field, (item, logy) in self.curves.items():
            y = model.series(field)
            if logy:
                y = _positive(y)
            x = t
            if self.downsample and len(t):
                vb = item.getViewBox()
                if vb is not None and not vb.autoRangeEnabled()[0]:
                    lo, hi = vb.viewRange()[0]
                    i0 = max(0, int(np.searchsorted(t, lo)) - 1)
                    i1 = int(np.searchsorted(t, hi)) + 1
                    x, y = t[i0:i1], y[i0:i1]
                width = int(vb.width()) if vb is not None else 1000
                x, y = peak_decimate(x, y, max(400, 2 * width))
            if logy:
                item.setData(x, y, connect="finite")
            else:
                item.setData(x, y)
        self.title.setText(task_title(model))
        return True

    def _show_values(self, shown: bool) -> None:
        """Tick values only with data: an empty axis would label an arbitrary default
        range ("2 V², 5 V²", "0 … 1 W")."""
        if shown == self._values_shown:
            return
        self._values_shown = shown
        for plot in self.plots.values():
            for side in ("left", "bottom"):
                plot.getAxis(side).setStyle(showValues=shown)

    def _view_changed(self) -> None:
        """The operator zoomed or panned: redraw at the next frame."""
        self._drawn = -1

    def points_drawn(self, field: str) -> int:
        """Points currently handed to the curve of ``field`` (after decimation)."""
        x, _ = self.curves[field][0].getOriginalDataset()
        return 0 if x is None else len(x)


#: the summary plot always spans at least this many decades per axis, so a log axis has
#: labelled ticks however close the points are
MIN_DECADES = 1.0


def _log_span(values: np.ndarray, pad: float = 0.12) -> tuple[float, float]:
    """View range (log10 units) around positive ``values``: their span plus ``pad`` of it
    on each side, widened about its centre to at least :data:`MIN_DECADES`."""
    logs = np.log10(values)
    lo, hi = float(np.min(logs)), float(np.max(logs))
    margin = pad * (hi - lo)
    lo, hi = lo - margin, hi + margin
    if hi - lo < MIN_DECADES:
        centre = 0.5 * (lo + hi)
        lo, hi = centre - MIN_DECADES / 2, centre + MIN_DECADES / 2
    return lo, hi


class SummaryPlot(pg.PlotWidget):
    """Sweep summary: final error (V²) against final free power (W), one point per
    finished task, coloured by the applied λ (blue = smallest, red = largest of the run).
    Before the first task finishes, the axes show no ticks, only a note saying so."""

    TITLE = "Sweep summary: final error vs power"
    EMPTY_NOTE = "one point per finished task"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w",
                         axisItems={"left": LogAxis("left", "V²"),
                                    "bottom": LogAxis("bottom", "W")})
        self.setLabel("bottom", "final free power P_F")
        self.setLabel("left", "final error L")
        self.setLogMode(True, True)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.scatter = self.plot([], [], pen=None, symbol="o", symbolSize=11,
                                 symbolPen=pg.mkPen("k", width=0.8))
        self.getPlotItem().vb.setDefaultPadding(0.12)
        self.getPlotItem().vb.disableAutoRange()  # ranges follow the points (_log_span)
        self.note = pg.TextItem(self.EMPTY_NOTE, color="#777777", anchor=(0.5, 0.5))
        self.note.setParentItem(self.getPlotItem().vb)
        self.getPlotItem().vb.sigResized.connect(self._place_note)
        self.cmap = pg.colormap.get("CET-D1")
        self.legend_text = ""
        self._drawn: tuple[tuple[int, float, float, float], ...] | None = None
        self._n = 0
        self._show_empty(True)

    def _place_note(self) -> None:
        rect = self.getPlotItem().vb.boundingRect()
        self.note.setPos(rect.center())

    def _show_empty(self, empty: bool) -> None:
        """No finished task: no tick values (an empty log axis would label an arbitrary
        decade, "2, 5"), no grid, a note instead."""
        for side in ("left", "bottom"):
            self.getAxis(side).setStyle(showValues=not empty)
        self.showGrid(x=not empty, y=not empty, alpha=0.25)
        self.note.setVisible(empty)
        self._place_note()

    def update_from(self, model: RunModel) -> bool:
        """Redraw the summary points of ``model`` if they changed."""
        pts = [p for p in model.summary if p.error > 0 and p.power_free > 0]
        signature = tuple((p.index, p.lam, p.error, p.power_free) for p in pts)
        if signature == self._drawn:
            return False
        self._drawn = signature
        if not pts:
            self.scatter.setData([], [])
            self._n = 0
            self._set_legend("")
            self._show_empty(True)
            return True
        self._show_empty(False)
        lam = np.array([p.lam for p in pts])
        lo, hi = float(np.nanmin(lam)), float(np.nanmax(lam))
        frac = (lam - lo) / (hi - lo) if hi > lo else np.full(lam.shape, 0.5)
        brushes = [pg.mkBrush(self.cmap.map(float(f), mode="qcolor")) for f in frac]
        x = np.array([p.power_free for p in pts])
        y = np.array([p.error for p in pts])
        self.scatter.setData(x, y, symbolBrush=brushes)
        vb = self.getPlotItem().vb
        vb.setRange(xRange=_log_span(x), yRange=_log_span(y), padding=0)
        self._n = len(pts)
        n = f"{len(pts)} task{'s' if len(pts) > 1 else ''}"
        self._set_legend(f"{n}, applied λ {format_si(lo, digits=3)} (blue) … "
                         f"{format_si(hi, digits=3)} (red)" if hi > lo
                         else f"{n}, applied λ = {format_si(lo, digits=3)}")
        return True

    def _set_legend(self, text: str) -> None:
        self.legend_text = text
        self.setTitle(f"{self.TITLE}<br>{text}" if text else f"{self.TITLE}<br>no task "
                      f"finished yet", size="10pt")

    @property
    def n_points(self) -> int:
        """Points on display (finished tasks with positive error and power)."""
        return self._n

    def tick_labels(self, side: str) -> list[str]:
        """The tick labels an axis draws now (empty when values are hidden)."""
        axis = self.getAxis(side)
        if not axis.style["showValues"]:
            return []
        lo, hi = axis.range
        out = []
        for _spacing, values in axis.tickValues(lo, hi, axis.size().width()
                                                if side in ("top", "bottom")
                                                else axis.size().height()):
            out += [t for t in axis.tickStrings(values, 1.0, _spacing) if t]
        return out
