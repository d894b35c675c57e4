"""Fixed-capacity sample histories for live plots.

A :class:`RingBuffer` keeps the most recent ``capacity`` samples of one quantity (any SI
unit: s, V², W, J) in a numpy array twice that size, so the live window is always one
contiguous slice: appending is amortised O(1) and reading never copies.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """The last ``capacity`` values of one scalar quantity, oldest first (float64)."""

    def __init__(self, capacity: int) -> None:
        if int(capacity) < 1:
            raise ValueError(f"capacity: must be >= 1 sample, got {capacity}")
        self.capacity = int(capacity)
        self._buf = np.empty(2 * self.capacity)
        self._end = 0
        self._len = 0
        self.total = 0  #: samples ever appended (including those pushed out)

    def __len__(self) -> int:
        return self._len

    def clear(self) -> None:
        """Forget every sample."""
        self._end = 0
        self._len = 0
        self.total = 0

    def extend(self, values: np.ndarray) -> None:
        """Append ``values`` (1-D; only the newest ``capacity`` are kept)."""
        vals = np.asarray(values, dtype=float).ravel()
        self.total += vals.size
        if vals.size >= self.capacity:
            self._buf[: self.capacity] = vals[-self.capacity:]
            self._end = self._len = self.capacity
            return
        if self._end + vals.size > self._buf.size:
            keep = self._len
            self._buf[:keep] = self._buf[self._end - keep: self._end]
            self._end = keep
        self._buf[self._end: self._end + vals.size] = vals
        self._end += vals.size
        self._len = min(self.capacity, self._len + vals.size)

    def view(self) -> np.ndarray:
        """The kept samples, oldest first (a read-only view, valid until the next extend)."""
        out = self._buf[self._end - self._len: self._end]
        out.flags.writeable = False
        return out
