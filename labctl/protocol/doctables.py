"""The field tables of ``docs/PROTOCOLS.md``, generated from the declarations.

``python3 -m labctl.protocol.doctables docs/PROTOCOLS.md`` rewrites every
``<!-- fields:NAME -->...<!-- /fields -->`` block of the file with the table of the
declarations it names (protocol tables from :mod:`labctl.protocol.fields`, ``bench`` from
:data:`labctl.bench.config.BENCH_FIELDS`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from labctl.fieldspec import markdown_table
from labctl.protocol import fields as decl

#: marker name -> declarations
DOC_TABLES = {
    "top": decl.TOP, "lambda": decl.LAMBDA, "learning": decl.LEARNING, "init": decl.INIT,
    "sweep": decl.SWEEP, "sim": decl.SIM, "task": decl.TASK,
    **{f"task.{k}": v for k, v in decl.TASK_FIELDS.items()},
}


def rewrite_blocks(text: str, tag: str, render: Callable[[str], str]) -> str:
    """``text`` with every ``<!-- TAG:NAME -->…<!-- /TAG -->`` block's body replaced by
    ``render(NAME)``: the one mechanism of every generated table in the docs."""
    def block(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"<!-- {tag}:{name} -->\n{render(name)}\n<!-- /{tag} -->"
    return re.sub(rf"<!-- {tag}:([\w.]+) -->.*?<!-- /{tag} -->", block, text, flags=re.S)


def rewrite_files(paths: list[str], update: Callable[[str], str]) -> int:
    """Rewrite each Markdown file of ``paths`` with ``update`` (a command's main)."""
    for doc in paths:
        p = Path(doc)
        p.write_text(update(p.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


def update_docs(text: str) -> str:
    """``text`` with every field-table block replaced by the generated table."""
    from labctl.bench.config import BENCH_FIELDS

    tables = {**DOC_TABLES, "bench": BENCH_FIELDS}
    return rewrite_blocks(text, "fields", lambda name: markdown_table(tables[name]))


def main(paths: list[str]) -> int:
    """Rewrite the tables of each Markdown file in ``paths``."""
    return rewrite_files(paths, update_docs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
