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

#: (model field, legend name, pen colour) per curve, grouped by plot
PLOTS: tuple[tuple[str, str, bool, tuple[tuple[str, str, str], ...]], ...] = (
    ("error", "Error L (V²)", True, (("error", "L", "#1565c0"),)),
    ("error_normalized", "Normalised error L/L₀", True,
     (("error_normalized", "L/L₀", "#6a1b9a"),)),
    ("power", "Power (W)", False, (("power_free", "free P_F", "#2e7d32"),
                                    ("power_clamped", "clamped P_C", "#ef6c00"))),
    ("lambda", "λ", False, (("lambda", "λ", "#c62828"),)),
    ("energy", "Training energy (J)", False, (("energy", "E", "#37474f"),)),
)


class LogAxis(pg.AxisItem):
    """A log-scale axis that labels only the 1, 2 and 5 × 10ⁿ ticks (no crowded labels)."""

    def logTickStrings(self, values: list[float], scale: float,
                       spacing: float) -> list[str]:
        """Labels for ticks at log10 positions ``values``; other mantissas stay blank."""
        keep = []
        for v in values:
            mant = 10 ** (v - np.floor(v + 1e-9))
            keep.append(any(abs(mant - m) < 0.05 * m for m in (1.0, 2.0, 5.0)))
        if sum(keep) < 2:  # less than a decade on display: label every other tick
            keep = [i % 2 == 0 for i in range(len(values))]
        return [f"{10 ** v:.3g}" if k else "" for v, k in zip(values, keep, strict=True)]


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
        for n, (key, title, logy, curves) in enumerate(PLOTS):
            last = n == len(PLOTS) - 1
            axes = {"left": LogAxis("left")} if logy else None
            plot = self.addPlot(row=1 + n // 2, col=n % 2, colspan=2 if last else 1,
                                axisItems=axes)
            plot.setTitle(title, size="10pt")
            plot.setLabel("bottom", "bench time", units="s")
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
        task = model.task
        if task.index >= 0:
            lam = task.params.get("lambda", float("nan"))
            self.title.setText(f"task {task.index + 1}/{task.n_tasks}: {task.name}  "
                               f"(λ = {lam:g}, {len(t)} rows)")
        return True

    def _view_changed(self) -> None:
        """The operator zoomed or panned: redraw at the next frame."""
        self._drawn = -1

    def points_drawn(self, field: str) -> int:
        """Points currently handed to the curve of ``field`` (after decimation)."""
        x, _ = self.curves[field][0].getOriginalDataset()
        return 0 if x is None else len(x)


class SummaryPlot(pg.PlotWidget):
    """Sweep summary: final error (V²) against free power (W), one point per finished
    task, coloured by λ (blue = smallest, red = largest λ of the run)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w",
                         axisItems={"left": LogAxis("left"), "bottom": LogAxis("bottom")})
        self.setTitle("Sweep summary: final error vs power", size="10pt")
        self.setLabel("bottom", "final free power P_F (W)")
        self.setLabel("left", "final error L (V²)")
        self.setLogMode(True, True)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.scatter = self.plot([], [], pen=None, symbol="o", symbolSize=11,
                                 symbolPen=pg.mkPen("k", width=0.8))
        for side in ("left", "bottom"):
            self.getAxis(side).enableAutoSIPrefix(False)
        self.getPlotItem().vb.setDefaultPadding(0.12)
        self.cmap = pg.colormap.get("CET-D1")
        self.legend_text = ""
        self._drawn: tuple[tuple[int, float, float, float], ...] | None = None
        self._n = 0

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
            return True
        lam = np.array([p.lam for p in pts])
        lo, hi = float(np.nanmin(lam)), float(np.nanmax(lam))
        frac = (lam - lo) / (hi - lo) if hi > lo else np.full(lam.shape, 0.5)
        brushes = [pg.mkBrush(self.cmap.map(float(f), mode="qcolor")) for f in frac]
        self.scatter.setData([p.power_free for p in pts], [p.error for p in pts],
                             symbolBrush=brushes)
        self._n = len(pts)
        self._set_legend(f"{len(pts)} tasks, λ {lo:.3g} (blue) … {hi:.3g} (red)"
                         if hi > lo else f"{len(pts)} tasks, λ = {lo:.3g}")
        return True

    def _set_legend(self, text: str) -> None:
        self.legend_text = text
        title = "Sweep summary: final error vs power"
        self.setTitle(f"{title}<br>{text}" if text else title, size="10pt")

    @property
    def n_points(self) -> int:
        """Points on display (finished tasks with positive error and power)."""
        return self._n
