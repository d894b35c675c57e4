"""``labctl analyze FILES... -o DIR``: summary table (CSV with units in the headers;
Markdown and printed with SI prefixes), fits and figures (PNG + PDF) from run files,
finished or live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labctl.analysis.load import DEFAULT_ERROR_THRESHOLD

#: Columns printed on the terminal (the CSV and Markdown files hold them all).
PRINTED = ("file", "task", "name", "status", "lambda", "final_error",
           "final_error_normalized", "final_power_free", "energy", "time_to_threshold",
           "power_supply", "power_supply_residual")


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``labctl analyze`` to ``parser``."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="run files (.h5), finished or still being written")
    parser.add_argument("-o", "--output", type=Path, default=Path("analysis"), metavar="DIR",
                        help="output directory for figures and tables (default: ./analysis)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_ERROR_THRESHOLD,
                        metavar="V2", help="error threshold for the training time, V² "
                                           f"(default {DEFAULT_ERROR_THRESHOLD:g})")


def cmd_analyze(args: argparse.Namespace) -> int:
    """Run the analysis; 0 on success, 2 on bad input (message on stderr)."""
    from labctl.analysis.report import analyze

    try:
        if not args.threshold > 0:
            raise ValueError(f"--threshold: {args.threshold}; allowed > 0 V²")
        report = analyze(args.files, args.output, error_threshold=args.threshold)
    except (ValueError, OSError, KeyError) as exc:
        print(f"labctl analyze: {exc}", file=sys.stderr)
        return 2
    from labctl.analysis.frames import format_table

    print(format_table(report.table, PRINTED), end="")
    text = report.summary_text()
    if text:
        print(text)
    print(f"wrote {len(report.files)} files to {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m labctl.analysis.cli``)."""
    parser = argparse.ArgumentParser(prog="labctl analyze", description=__doc__)
    add_analyze_arguments(parser)
    return cmd_analyze(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
