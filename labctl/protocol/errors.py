"""The one exception of the protocol layer."""

from __future__ import annotations

from collections.abc import Sequence


class ProtocolError(ValueError):
    """A protocol file is unreadable or invalid.

    The message reads ``"<file>: <field>: <what is wrong and what is allowed>"``, one line
    per problem when a file has several (``problems`` lists them as ``(field, problem)``;
    ``field`` and ``problem`` are the first). ``field`` is a dotted path into the TOML
    document, e.g. ``task[3].targets.7`` (``task[3]`` is the fourth ``[[task]]`` table,
    counted from 0).
    """

    def __init__(self, file: str, field: str, problem: str,
                 problems: Sequence[tuple[str, str]] | None = None) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        self.problems: list[tuple[str, str]] = list(problems or [(field, problem)])
        super().__init__("\n".join(f"{self.file}: {f or '(top level)'}: {p}"
                                   for f, p in self.problems))
