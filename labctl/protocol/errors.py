"""The one exception of the protocol layer."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A protocol file is unreadable or invalid.

    The message always reads ``"<file>: <field>: <what is wrong and what is allowed>"``;
    ``field`` is a dotted path into the TOML document, e.g. ``task[3].targets.7``
    (``task[3]`` is the fourth ``[[task]]`` table, counted from 0).
    """

    def __init__(self, file: str, field: str, problem: str) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.file}: {field or '(top level)'}: {problem}")
