"""The field tables of ``docs/PROTOCOLS.md``, generated from the declarations.

``python3 -m labctl.protocol.doctables docs/PROTOCOLS.md`` rewrites every
``<!-- fields:NAME -->...<!-- /fields -->`` block of the file with the table of the
declarations it names (protocol tables from :mod:`labctl.protocol.fields`, ``bench`` from
:data:`labctl.bench.config.BENCH_FIELDS`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from labctl.fieldspec import markdown_table
from labctl.protocol import fields as decl

#: marker name -> declarations
DOC_TABLES = {
    "top": decl.TOP, "lambda": decl.LAMBDA, "learning": decl.LEARNING, "init": decl.INIT,
    "sweep": decl.SWEEP, "sim": decl.SIM, "task": decl.TASK,
    **{f"task.{k}": v for k, v in decl.TASK_FIELDS.items()},
}


def update_docs(text: str) -> str:
    """``text`` with every field-table block replaced by the generated table."""
    from labctl.bench.config import BENCH_FIELDS

    tables = {**DOC_TABLES, "bench": BENCH_FIELDS}

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        return (f"<!-- fields:{name} -->\n{markdown_table(tables[name])}\n"
                "<!-- /fields -->")
    return re.sub(r"<!-- fields:([\w.]+) -->.*?<!-- /fields -->", table, text, flags=re.S)


def main(paths: list[str]) -> int:
    """Rewrite the tables of each Markdown file in ``paths``."""
    for doc in paths:
        p = Path(doc)
        p.write_text(update_docs(p.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
