"""A one-line label that shortens its text in the middle (``/tmp/…/run.h5``) to the space it
gets, instead of widening the window to fit a long path; the full text is its tooltip."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A QLabel whose text never sets a minimum width: it is elided in the middle."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        """Set the text (shown elided when too long) and the tooltip (in full)."""
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        """Room for a few characters only: the layout, not the text, sets the width."""
        return QSize(self.fontMetrics().horizontalAdvance("file: …"),
                     super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the text elided in the middle to the label's width."""
        painter = QPainter(self)
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle,
                                             self.width())
        painter.drawText(self.rect(), int(self.alignment()), shown)
