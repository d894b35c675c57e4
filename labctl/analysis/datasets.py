"""Scores of dataset tasks (classification, regression, nonlinear regression) from the
final measurements the run engine records after training: mean error on the held-out test
examples and on the training examples (V², learning off), and for classification the
accuracy (fraction of examples whose highest target node is the right class, 1)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from labctl.analysis.frames import make_frame
from labctl.store import open_run
from labctl.units import format_si

#: columns of :func:`dataset_scores`
SCORE_COLUMNS = ("file", "task", "name", "kind", "train_accuracy", "test_accuracy",
                 "train_error", "test_error")
#: units of the score columns (accuracy a fraction, errors V²)
SCORE_UNITS = {"train_accuracy": "1", "test_accuracy": "1", "train_error": "V^2",
               "test_error": "V^2"}
DATASET_KINDS = ("classification", "regression", "nonlinear_regression")


def dataset_scores(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per dataset task of the closed run files in ``paths`` (a DataFrame, units
    in ``attrs["units"]``); a score the run did not record (live file, older run,
    regression has no accuracy) is NaN."""
    rows = []
    for path in paths:
        with open_run(path) as run:
            for task in run.tasks:
                kind = str(task.params.get("kind", ""))
                if kind not in DATASET_KINDS or task.n_rows == 0:
                    continue
                final = task.final
                row = {"file": run.path.name, "task": task.index, "name": task.name,
                       "kind": kind}
                for c in SCORE_COLUMNS[4:]:
                    v = final.get(c)
                    row[c] = float(v) if isinstance(v, int | float) else float("nan")
                rows.append(row)
    return make_frame(rows, SCORE_COLUMNS, SCORE_UNITS)


def score_lines(table: pd.DataFrame) -> list[str]:
    """Human-readable lines of :func:`dataset_scores` (accuracy in %, errors in V²)."""
    out = []
    for r in table.to_dict("records"):
        parts = []
        for split in ("train", "test"):
            acc, err = r[f"{split}_accuracy"], r[f"{split}_error"]
            if acc == acc:  # not NaN
                parts.append(f"{split} accuracy {100 * acc:.1f} %")
            if err == err:
                parts.append(f"{split} error {format_si(err, 'V²')}")
        text = ", ".join(parts) if parts else "no final scores recorded (run not closed?)"
        out.append(f"{r['kind']} '{r['name']}' ({r['file']}, task {r['task']}): {text}")
    return out
