"""Drawing the bench network: edges by conductance, nodes by voltage.

Edge line width grows with the edge's conductance (S); edge colour shows its recent change
(blue = falling, grey = steady, red = rising, over the last second of bench time); node
colour is the free-state node voltage (V). On a periodic lattice the wrap-around edges are
drawn as two half-length stubs leaving the grid on opposite sides, so the picture stays a
readable square instead of lines crossing it. Sources are squares, targets diamonds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from labctl.network import Network
from labctl.units import format_si

MIN_WIDTH_PX = 1.0
MAX_WIDTH_PX = 9.0


def edge_segments(network: Network) -> list[np.ndarray]:
    """Per edge, the line segments to draw as a (2k × 2) array of end points (layout units).

    An ordinary edge is one segment between its nodes; an edge longer than 1.5 times the
    typical edge (a wrap-around bond of a periodic lattice) becomes two stubs, each half the
    minimal-image bond long, pointing out of the grid from both end nodes.
    """
    pos = _positions(network)
    d = pos[network.edges[:, 1]] - pos[network.edges[:, 0]]
    length = np.hypot(d[:, 0], d[:, 1])
    unit = float(np.median(length))
    period = pos.max(axis=0) - pos.min(axis=0) + unit
    out: list[np.ndarray] = []
    for (a, b), di, li in zip(network.edges, d, length, strict=True):
        pa, pb = pos[a], pos[b]
        if li <= 1.5 * unit:
            out.append(np.array([pa, pb]))
            continue
        wrapped = di - period * np.round(di / period)
        out.append(np.array([pa, pa + wrapped / 2, pb, pb - wrapped / 2]))
    return out


def _positions(network: Network) -> np.ndarray:
    if network.positions is not None:
        return np.asarray(network.positions, dtype=float)
    angle = 2 * np.pi * np.arange(network.n_nodes) / network.n_nodes
    return np.stack([np.cos(angle), np.sin(angle)], axis=1) * network.n_nodes / 6


class NetworkView(QWidget):
    """The network with live conductances (S), their recent change (S) and node voltages (V)."""

    def __init__(self, network: Network, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setTitle("Network: width = G, colour = ΔG (last 1 s), nodes = V_free",
                           size="10pt")
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMouseEnabled(False, False)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)
        self.edge_cmap = pg.colormap.get("CET-D1")
        self.node_cmap = pg.colormap.get("viridis")
        self.network = network
        self.edge_items: list[pg.PlotCurveItem] = []
        self.nodes = pg.ScatterPlotItem(size=20, pen=pg.mkPen("k", width=1))
        self.labels: list[pg.TextItem] = []
        self.widths = np.full(network.n_edges, MIN_WIDTH_PX)
        self._drawn = -1
        self.updates = 0
        self.set_network(network)

    def set_network(self, network: Network) -> None:
        """Lay out ``network`` (idle edges, grey nodes)."""
        for item in [*self.edge_items, *self.labels]:
            self.plot.removeItem(item)
        self.plot.removeItem(self.nodes)
        self.network = network
        self.pos = _positions(network)
        self.edge_items = []
        for seg in edge_segments(network):
            item = pg.PlotCurveItem(seg[:, 0], seg[:, 1], connect="pairs",
                                    pen=pg.mkPen("#9e9e9e", width=MIN_WIDTH_PX))
            self.plot.addItem(item)
            self.edge_items.append(item)
        self.plot.addItem(self.nodes)
        self.nodes.setData(pos=self.pos, brush=pg.mkBrush("#bdbdbd"))
        self.labels = []
        for i, (x, y) in enumerate(self.pos):
            label = pg.TextItem(str(i), color="w", anchor=(0.5, 0.5))
            label.setPos(x, y)
            self.plot.addItem(label)
            self.labels.append(label)
        self.widths = np.full(network.n_edges, MIN_WIDTH_PX)
        self._drawn = -1

    def show_state(self, conductance: np.ndarray | None, change: np.ndarray | None,
                   v_free: np.ndarray | None, params: dict[str, Any] | None = None) -> None:
        """Draw conductances G (S, per edge), their change ΔG (S) and node voltages (V)."""
        params = params or {}
        if conductance is not None:
            g = np.asarray(conductance, dtype=float)
            g_max = float(np.nanmax(np.abs(g))) or 1.0
            self.widths = MIN_WIDTH_PX + (MAX_WIDTH_PX - MIN_WIDTH_PX) * np.abs(g) / g_max
            dg = np.zeros_like(g) if change is None else np.asarray(change, dtype=float)
            scale = float(np.nanmax(np.abs(dg))) if dg.size else 0.0
            frac = 0.5 + 0.5 * dg / scale if scale > 0 else np.full(g.shape, 0.5)
            for item, width, f in zip(self.edge_items, self.widths, frac, strict=True):
                item.setPen(pg.mkPen(self.edge_cmap.map(float(f), mode="qcolor"), width=width))
            caption = (f"G: {format_si(float(np.nanmin(g)), 'S')} – {format_si(g_max, 'S')};  "
                       f"|ΔG| max {format_si(scale, 'S/s')}")
        else:
            caption = ""
        if v_free is not None:
            v = np.asarray(v_free, dtype=float)
            lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
            frac = (v - lo) / (hi - lo) if hi > lo else np.full(v.shape, 0.5)
            brushes = [pg.mkBrush(self.node_cmap.map(float(f), mode="qcolor")) for f in frac]
            symbols = ["o"] * len(v)
            for n in params.get("source_nodes", []) or []:
                if 0 <= int(n) < len(symbols):
                    symbols[int(n)] = "s"
            for n in params.get("target_nodes", []) or []:
                if 0 <= int(n) < len(symbols):
                    symbols[int(n)] = "d"
            self.nodes.setData(pos=self.pos, brush=brushes, symbol=symbols)
            for label, f in zip(self.labels, frac, strict=True):
                label.setColor("k" if f > 0.6 else "w")
            caption += (f"<br>V_free: {format_si(lo, 'V')} – {format_si(hi, 'V')} (dark → "
                        f"bright); ■ source ◆ target")
        self.caption.setText(caption)
        self.updates += 1
