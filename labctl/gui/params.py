"""The protocol loader and parameter panel.

The operator loads a protocol file, then edits the task selection, η, λ (fixed, sweep or
the λ controller), the learning duration and the initial gates. Every edit is validated in
memory by :func:`labctl.protocol.load_protocol_text`, the CLI's own validation (no file is
written for it): the GUI accepts exactly what ``labctl run`` accepts, and a refusal is
shown in red next to the offending field. Edits are applied to the file's own TOML
document (:mod:`tomlkit`), so **Save** writes the protocol back with the user's comments,
order and layout kept, changing only the edited values (atomically: a new file renamed
over the old one).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from labctl.bench.gate_encoding import (
    eta_to_tap,
    lambda_to_taps,
    tap_to_eta,
    taps_to_lambda,
)
from labctl.protocol import load_protocol_text
from labctl.protocol.errors import ProtocolError
from labctl.protocol.model import Protocol
from labctl.tomlread import TomlFileError, read_text
from labctl.tomlread import parse as parse_toml

#: editable fields per λ mode: (key in [lambda], label with unit)
LAMBDA_FIELDS = {
    "fixed": (("value", "λ requested"),),
    "sweep": (("values", "λ requested"),),
    "control": (("target_error", "target error L̃ (V²)"), ("rho", "ρ (s)"), ("p", "p"),
                ("lam0", "λ₀"), ("lam_max", "λ max"), ("update_rate", "update rate (Hz)")),
}
#: editable fields per learning mode: (key in [learning], label with unit)
LEARNING_FIELDS = {
    "continuous": (("duration", "duration (s)"),),
    "stepwise": (("steps", "steps"), ("window", "window (s)")),
}
ERROR_STYLE = "color: #c62828;"


def parse_value(text: str, field: str) -> Any:
    """A field's text as a TOML value: a number, or a comma-separated list of numbers.

    Raises ValueError naming ``field`` if the text is neither.
    """
    text = text.strip()
    if not text:
        raise ValueError(f"{field}: empty; allowed a number or a list like 0.0, 0.03")
    if "," in text and not text.startswith("["):
        text = f"[{text}]"
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise ValueError(f"{field}: {text!r} is not a number or list of numbers") from None


def format_value(value: Any) -> str:
    """A TOML value as field text (lists as comma-separated numbers)."""
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def applied_text(protocol: Protocol) -> str:
    """What the bench will apply for the requested η and λ of ``protocol`` (quantised by
    the gate controller, :mod:`labctl.bench.gate_encoding`), e.g.
    ``applied on the bench: η 0.2171; λ 0, 0.02983``."""
    from labctl.units import format_si

    parts = []
    with contextlib.suppress(ValueError):  # the loader already refused an η out of range
        parts.append(f"η {format_si(tap_to_eta(eta_to_tap(protocol.eta)), digits=4)}")
    lam = protocol.lam
    values = getattr(lam, "values", None) or tuple(
        v for v in (getattr(lam, "value", None), getattr(lam, "lam0", None)) if v is not None)
    shown = []
    for v in values[:8]:
        try:
            shown.append(format_si(taps_to_lambda(*lambda_to_taps(float(v))), digits=4))
        except ValueError:
            shown.append("-")
    if shown:
        label = "λ₀" if hasattr(lam, "lam0") else "λ"
        parts.append(f"{label} {', '.join(shown)}{' …' if len(values) > 8 else ''}")
    return "applied on the bench: " + "; ".join(parts) if parts else ""


class _Field:
    """One edit line with its error label underneath."""

    def __init__(self, parent: QWidget, path: str, label: str) -> None:
        self.path = path
        self.label = label
        self.edit = QLineEdit(parent)
        self.edit.setObjectName(f"field:{path}")
        self.error = QLabel(parent)
        self.error.setObjectName(f"error:{path}")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()

    def set_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        self.edit.setStyleSheet("border: 1px solid #c62828;" if text else "")


class ParameterPanel(QWidget):
    """Protocol file, task selection and the parameters an operator tunes (η, λ,
    learning duration in s, initial gate voltage in V), validated by the CLI's loader.

    ``protocol_changed`` is emitted with the validated :class:`Protocol` after each
    successful validation.
    """

    protocol_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.doc: dict[str, Any] = {}
        self.bench: Any = None
        self.protocol: Protocol | None = None
        self.fields: dict[str, _Field] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)

        row = QHBoxLayout()
        self.path_label = QLabel("no protocol loaded")
        self.path_label.setWordWrap(True)
        self.open_button = QPushButton("Open protocol…")
        self.open_button.clicked.connect(self._browse)
        row.addWidget(self.path_label, 1)
        row.addWidget(self.open_button)
        outer.addLayout(row)

        box = QGroupBox("Parameters")
        self.form = QFormLayout(box)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addWidget(box)
        self.tasks = QListWidget()
        self.tasks.setObjectName("tasks")
        self.tasks.setToolTip("the protocol's [[task]] entries, numbered from 0 as in its "
                              "error messages (task[1]); a λ sweep runs each entry once per "
                              "λ, and the run's tasks are numbered from 0 in run order")
        self.tasks.setMaximumHeight(90)
        self.task_error = QLabel()
        self.task_error.setStyleSheet(ERROR_STYLE)
        self.task_error.setWordWrap(True)
        self.task_error.hide()
        self.lambda_mode = QComboBox()
        self.lambda_mode.addItems(list(LAMBDA_FIELDS))
        self.lambda_mode.setObjectName("lambda_mode")
        self.lambda_mode.currentTextChanged.connect(self._lambda_mode_changed)
        self.general_error = QLabel()
        self.general_error.setStyleSheet(ERROR_STYLE)
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.validate_button = QPushButton("Validate")
        self.validate_button.clicked.connect(self.validate)
        self.save_button = QPushButton("Save protocol")
        self.save_button.setToolTip("write the edited values into the protocol file "
                                    "(comments and layout kept)")
        self.save_button.clicked.connect(self.save)
        self.text = ""  # the protocol file's text as loaded or last saved
        self.edited_text = ""  # the text last validated
        self.applied = QLabel("")
        self.applied.setObjectName("applied")
        self.applied.setWordWrap(True)
        self.applied.setStyleSheet("color: #555555;")
        self.applied.setToolTip("the gate controller quantises requests: η in steps of "
                                "1/129 (potentiometer), λ to the gain-trim steps (~5e-4)")
        outer.addWidget(self.applied)
        outer.addWidget(self.general_error)
        outer.addWidget(self.validate_button)
        outer.addWidget(self.save_button)
        self._rebuild_form()

    # ---------------------------------------------------------------- loading
    def _browse(self) -> None:
        start = str(self.path.parent) if self.path else str(Path.cwd() / "protocols")
        name, _ = QFileDialog.getOpenFileName(self, "Open protocol", start, "Protocols (*.toml)")
        if name:
            self.load(name)

    def load(self, path: str | Path) -> Protocol | None:
        """Load protocol file ``path`` into the panel and validate it."""
        p = Path(path)
        try:  # the loader's own bounds (size, encoding, nesting) before any parsing
            text = read_text(p)
            doc = parse_toml(text)
        except TomlFileError as exc:
            self._show_general(f"{p}: {exc.problem}")
            return None
        self.path, self.doc, self.text = p, doc, text
        self.path_label.setText(str(p))
        self.tasks.clear()
        for i, task in enumerate(doc.get("task", [])):
            item = QListWidgetItem(f"{i}: {task.get('kind', '?')} {task.get('name', '')}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.tasks.addItem(item)
        mode = str(doc.get("lambda", {}).get("mode", "fixed"))
        self.lambda_mode.blockSignals(True)
        self.lambda_mode.setCurrentText(mode if mode in LAMBDA_FIELDS else "fixed")
        self.lambda_mode.blockSignals(False)
        self._rebuild_form()
        return self.validate()

    def set_bench(self, bench: Any) -> None:
        """Validate against BenchConfig ``bench`` from now on (None: the file's own)."""
        self.bench = bench
        if self.doc:
            self.validate()

    # ---------------------------------------------------------------- the form
    def _lambda_mode_changed(self, _mode: str) -> None:
        self._rebuild_form(keep_values=True)

    def _field_specs(self) -> list[tuple[str, str, Any]]:
        """(dotted path, label, current value) of every editable field."""
        lam = self.doc.get("lambda", {})
        mode = self.lambda_mode.currentText()
        learning = self.doc.get("learning", {})
        lmode = str(learning.get("mode", "continuous"))
        init = self.doc.get("init", {})
        specs: list[tuple[str, str, Any]] = [("eta", "η requested", self.doc.get("eta", ""))]
        for key, label in LAMBDA_FIELDS[mode]:
            specs.append((f"lambda.{key}", label, lam.get(key, "")))
        for key, label in LEARNING_FIELDS.get(lmode, ()):
            specs.append((f"learning.{key}", label, learning.get(key, "")))
        if "kappa" in init:
            specs.append(("init.kappa", "initial κ (S)", init["kappa"]))
        else:
            specs.append(("init.gate_voltage", "initial gates (V)", init.get("gate_voltage", "")))
        return specs

    def _rebuild_form(self, keep_values: bool = False) -> None:
        old = {path: f.edit.text() for path, f in self.fields.items()} if keep_values else {}
        while self.form.rowCount():
            taken = self.form.takeRow(0)
            label = taken.labelItem.widget() if taken.labelItem is not None else None
            if label is not None:
                label.deleteLater()
        for f in self.fields.values():
            f.edit.deleteLater()
            f.error.deleteLater()
        self.fields = {}
        self.form.addRow("tasks", self.tasks)
        self.form.addRow("", self.task_error)
        self.form.addRow("λ mode", self.lambda_mode)
        for path, label, value in self._field_specs():
            f = _Field(self, path, label)
            f.edit.setText(old.get(path, format_value(value) if value != "" else ""))
            f.edit.editingFinished.connect(self.validate)
            self.fields[path] = f
            self.form.addRow(label, f.edit)
            self.form.addRow("", f.error)

    # ---------------------------------------------------------------- validation
    def edited_document(self) -> dict[str, Any]:
        """The protocol document with the panel's edits applied, as plain values (raises
        ValueError naming the field whose text is not a value)."""
        return self.edited_toml().unwrap()

    def edited_toml(self) -> tomlkit.TOMLDocument:
        """The protocol file's own TOML document (comments, order, layout) with the
        panel's edits applied in place: unchecked tasks removed, the λ table emptied when
        its mode changes, each field's value replaced (an empty field removes its key).
        Raises ValueError naming the field whose text is not a value."""
        doc = tomlkit.parse(self.text)
        keep = {i for i in range(self.tasks.count())
                if self.tasks.item(i).checkState() == Qt.CheckState.Checked}
        tasks = doc.get("task")
        if isinstance(tasks, list):
            for i in reversed(range(len(tasks))):
                if i not in keep:
                    del tasks[i]
            if not tasks:
                del doc["task"]
        mode = self.lambda_mode.currentText()
        lam = doc.get("lambda")
        if not isinstance(lam, dict):
            doc["lambda"] = lam = tomlkit.table()
        elif lam.get("mode", "fixed") != mode:
            for key in list(lam):
                del lam[key]
        lam["mode"] = mode
        for path, f in self.fields.items():
            section, _, key = path.rpartition(".")
            if section and not isinstance(doc.get(section), dict):
                doc[section] = tomlkit.table()
            target = doc[section] if section else doc
            text = f.edit.text().strip()
            old = target.get(key)
            current = None if old is None else getattr(old, "unwrap", lambda o=old: o)()
            if text and current is not None and text == format_value(current).strip():
                continue  # untouched: the file's value and spelling stay (0.0, a range)
            if text:
                value = parse_value(text, path)
                if value != current:
                    target[key] = value
            elif key in target:  # an empty field is an absent key: the default or a refusal
                del target[key]
        return doc

    def validate(self) -> Protocol | None:
        """Validate the edits with the CLI's loader; show any refusal at its field.

        Returns the validated Protocol, or None (and the error is on display).
        """
        self._clear_errors()
        if self.path is None:
            self._show_general("no protocol loaded")
            return None
        try:
            doc = self.edited_toml()
        except ValueError as exc:
            self._show_error(str(exc).split(":", 1)[0], str(exc))
            return None
        try:
            protocol = self._load_edited(doc)
        except ProtocolError as exc:
            self._show_error(exc.field, f"{exc.field}: {exc.problem}")
            return None
        except (ValueError, OSError) as exc:
            self._show_general(str(exc))
            return None
        self.protocol = protocol
        self.applied.setText(applied_text(protocol))
        self.protocol_changed.emit(protocol)
        return protocol

    def _load_edited(self, doc: tomlkit.TOMLDocument) -> Protocol:
        """Validate the edited document in memory, as the protocol file it would be (a
        relative bench path resolves from the file's folder); keeps its text for
        :meth:`save`."""
        assert self.path is not None
        text = tomlkit.dumps(doc)
        protocol = load_protocol_text(text, source_name=self.path, bench=self.bench)
        self.edited_text = text
        return protocol

    def save(self, path: str | Path | None = None) -> Path | None:
        """Validate the edits and write them into the protocol file (or ``path``), with
        the user's comments and layout kept; the file is replaced atomically (a new file
        in the same folder, renamed over it). Returns the path written, or None if the
        edits are refused (the error is on display) or the file cannot be written."""
        if self.validate() is None:
            return None
        assert self.path is not None
        target = Path(path) if path is not None else self.path
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                       dir=target.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    fh.write(self.edited_text)
                if target.exists():
                    os.chmod(tmp, target.stat().st_mode & 0o7777)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self._show_general(f"cannot save {target}: {exc.strerror or exc}")
            return None
        self.path, self.text, self.doc = target, self.edited_text, parse_toml(self.edited_text)
        self.path_label.setText(str(target))
        return target

    def _clear_errors(self) -> None:
        self.applied.setText("")
        for f in self.fields.values():
            f.set_error("")
        self.task_error.hide()
        self.general_error.hide()

    def _show_general(self, text: str) -> None:
        self.general_error.setText(text)
        self.general_error.show()

    def _show_error(self, field: str, text: str) -> None:
        """Put ``text`` next to the field whose dotted path best matches ``field``."""
        key = re.sub(r"\[\d+\]", "", field)
        while key:
            if key in self.fields:
                self.fields[key].set_error(text)
                return
            if key == "task":
                self.task_error.setText(text)
                self.task_error.show()
                return
            if "." not in key:
                self._show_first(f"{key}.", text)
                return
            key = key.rpartition(".")[0]
        self._show_general(text)

    def _show_first(self, prefix: str, text: str) -> None:
        for path, f in self.fields.items():
            if path.startswith(prefix):
                f.set_error(text)
                return
        self._show_general(text)

    def error_for(self, path: str) -> str:
        """The error shown at field ``path`` ("" if none); "task" and "" (general) too."""
        if path == "task":
            return self.task_error.text() if not self.task_error.isHidden() else ""
        if path == "":
            return self.general_error.text() if not self.general_error.isHidden() else ""
        f = self.fields[path]
        return f.error.text() if not f.error.isHidden() else ""

    def set_field(self, path: str, text: str) -> None:
        """Type ``text`` into field ``path`` (as an operator would)."""
        self.fields[path].edit.setText(text)
