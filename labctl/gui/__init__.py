"""The bench operator GUI (PySide6 + pyqtgraph)."""
