"""Reading and validating protocol files (TOML) against a bench, before anything is opened.

The file format is documented in ``docs/PROTOCOLS.md``; every field's type, range and unit
is declared once in :mod:`labctl.protocol.fields`. The file is read with the bounds of
:mod:`labctl.tomlread` (size, encoding, nesting depth checked before parsing), then every
table is checked and **all** problems of the file are reported together in one
:class:`ProtocolError` (one line per problem, each naming the file, the dotted field, the
value and what is allowed). Finally the size of the work the plan would describe is
bounded (:func:`labctl.protocol.plan.check_plan_size`) before anything is expanded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labctl.fieldspec import Field, resolve, show, type_name
from labctl.protocol import fields as decl
from labctl.protocol.errors import ProtocolError
from labctl.protocol.model import (
    AllosteryTask,
    ClassificationTask,
    ContinuousLearning,
    FaultPolicy,
    GateInit,
    LambdaControl,
    LambdaFixed,
    LambdaSpec,
    LambdaSweep,
    LearningSpec,
    NodeVolts,
    NonlinearRegressionTask,
    Protocol,
    RandomAllosteryTasks,
    RegressionTask,
    SimOverrides,
    StepwiseLearning,
    TaskSpec,
)
from labctl.protocol.reader import Problems, Section
from labctl.protocol.routing import reachable, route
from labctl.tomlread import MAX_FILE_BYTES, TomlFileError, display, parse, read_text

TASK_KINDS = decl.TASK_KINDS
MAX_SWEEP = decl.MAX_SWEEP
#: most [[task]] tables in one file
MAX_TASK_TABLES = 1000


def load_protocol(path: str | Path, bench: Any = None) -> Protocol:
    """Read protocol file ``path`` and validate it completely against ``bench``.

    ``bench`` is a BenchConfig; if None, the bench named in the file is loaded (``"sim"``
    or absent: the default simulated bench; otherwise a path relative to the protocol
    file). Raises :class:`ProtocolError` listing every problem; opens no instrument.
    """
    try:
        text = read_text(path)
    except TomlFileError as exc:
        raise ProtocolError(display(path), "", exc.problem) from None
    return load_protocol_text(text, source_name=path, bench=bench)


def load_protocol_text(text: str, source_name: str | Path = "<text>",
                       bench: Any = None) -> Protocol:
    """Validate protocol ``text`` (TOML) exactly as :func:`load_protocol` validates a
    file: ``source_name`` names it in messages and in the Protocol (``path``), and a
    relative ``bench`` path in it is resolved from ``source_name``'s folder (so a GUI
    edit of ``protocols/x.toml`` validates in memory as that file would). Same bounds as
    a file (at most :data:`labctl.tomlread.MAX_FILE_BYTES` UTF-8 bytes, nesting).
    Raises :class:`ProtocolError` listing every problem; opens no instrument."""
    file = display(source_name)
    try:
        if not isinstance(text, str):
            raise TomlFileError(f"expected text (str), got {type(text).__name__}")
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_FILE_BYTES:
            raise TomlFileError(f"{size} bytes; allowed at most {MAX_FILE_BYTES} bytes")
        doc = parse(text)
    except TomlFileError as exc:
        raise ProtocolError(file, "", exc.problem) from None
    try:
        return parse_protocol(file, text, doc, bench)
    except (RecursionError, MemoryError, ArithmeticError) as exc:  # never a traceback
        raise ProtocolError(file, "", f"cannot be checked: {type(exc).__name__}: "
                                      f"{str(exc)[:200]}") from None


def load_protocol_dict(doc: Mapping[str, Any], source_name: str | Path = "<dict>",
                       bench: Any = None) -> Protocol:
    """Validate a protocol given as a dict (as ``tomllib`` would read the file): it is
    written as TOML text (:mod:`tomlkit`; that text is what a run file stores) and
    validated by :func:`load_protocol_text`. A value TOML cannot hold (None, an object)
    is a :class:`ProtocolError` naming its dotted field."""
    import tomlkit

    file = display(source_name)
    problems = list(_non_toml(doc, ""))
    if problems:
        raise ProtocolError(file, *problems[0], problems=problems[:50])
    try:
        text = tomlkit.dumps(_toml_ready(doc))
    except (ValueError, TypeError) as exc:  # tomlkit's refusals are ValueError subclasses
        raise ProtocolError(file, "", f"cannot be written as TOML: {exc}") from None
    return load_protocol_text(text, source_name=source_name, bench=bench)


_TOML_SCALARS = (str, bool, int, float)


def _non_toml(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(dotted field, problem) for every key or value TOML cannot hold."""
    import datetime as dt

    if isinstance(value, Mapping):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                yield sub, f"key {key!r} is a {type(key).__name__}; allowed text keys"
            else:
                yield from _non_toml(item, sub)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _non_toml(item, f"{path}[{i}]")
    elif isinstance(value, np.generic) and isinstance(value.item(), _TOML_SCALARS):
        return
    elif not isinstance(value, (*_TOML_SCALARS, dt.date, dt.time)):
        yield path, (f"{value!r:.60} ({type(value).__name__}) cannot be written in TOML; "
                     "allowed text, numbers, booleans, dates, arrays and tables (leave an "
                     "unset field out)")


def _toml_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python ones and tuples as lists."""
    if isinstance(value, Mapping):
        return {k: _toml_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_toml_ready(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def parse_protocol(file: str, text: str, doc: dict[str, Any], bench: Any = None) -> Protocol:
    """Validate the parsed protocol document ``doc`` (the text of ``file``)."""
    from labctl.protocol.plan import check_plan_size

    problems = Problems(file)
    top = Section(problems, "", doc)
    name = top.get(decl.field("name"))
    description = top.get(decl.field("description"))
    bench_ref = top.get(decl.field("bench"))
    if bench is None and bench_ref is not None:
        with problems.guard():
            bench = _load_bench(file, bench_ref)
    ctx: dict[str, float] = decl.bench_context(bench) if bench is not None else {}
    top.context = ctx

    learning = None
    with problems.guard():
        learning = _parse_learning(top.table("learning", {}))
    # one row per task at least: the shortest stretch of learning a row must cover (s)
    ctx["min_record_rate"] = float(f"{1.0 / _learning_time(learning):.6g}")
    eta = top.get(decl.field("eta"))
    record_rate = top.get(decl.field("record_rate"))
    repeats = top.get(decl.field("repeats"))
    seed = top.get(decl.field("seed"))
    lam = None
    with problems.guard():
        lam = _parse_lambda(top.table("lambda", {}), ctx)
    init = sim = None
    tasks: tuple[TaskSpec, ...] | None = None
    if bench is None:  # the bench-bound tables cannot be checked without the bench
        for key in ("init", "sim", "task"):
            top.has(key)
    else:
        with problems.guard():
            init = _parse_init(top.table("init", {}))
        if top.has("sim"):
            if getattr(bench, "backend", "sim") != "sim":
                top.fail("sim", f"simulator overrides are refused on the hardware bench "
                                f"{getattr(bench, 'name', '?')!r}; allowed only when the "
                                "bench backend is 'sim'")
            else:
                with problems.guard():
                    sim = _parse_sim(top.table("sim"))
        tasks = _parse_tasks(top, bench)
    if isinstance(lam, LambdaControl) and isinstance(learning, StepwiseLearning):
        top.fail("lambda.mode", "the 'control' mode needs continuous learning "
                                "(learning.mode = 'continuous')")
    metadata = _parse_metadata(top.table("metadata", {}))
    fault_policy = _parse_fault_policy(top)
    top.finish()
    problems.raise_if_any()
    assert lam is not None and learning is not None and init is not None and tasks
    protocol = Protocol(path=file, text=text, name=name, description=description,
                        bench_ref=bench_ref, bench=bench, eta=eta, lam=lam,
                        learning=learning, init=init, tasks=tasks, record_rate=record_rate,
                        repeats=repeats, seed=seed, sim=sim, metadata=metadata,
                        fault_policy=fault_policy)
    check_plan_size(protocol)
    return protocol


def bench_limit(bench: Any, name: str) -> float:
    """Safe limit ``name`` (V) of a BenchConfig (``bench.limits.<name>`` or ``bench.<name>``)."""
    limits = getattr(bench, "limits", None)
    return float(getattr(limits, name) if limits is not None else getattr(bench, name))


def _load_bench(file: str, ref: str) -> Any:
    """Load the bench named by the protocol's ``bench`` field (a regular file, bounded)."""
    from labctl.bench.config import load_bench

    target = None if ref == "sim" else Path(file).parent / ref
    try:
        return load_bench(target)
    except (ValueError, OSError) as exc:  # one problem per line of the bench file's error
        lines = [("bench", f"cannot load bench {show(ref)}: {line}")
                 for line in str(exc).splitlines()]
        raise ProtocolError(file, *lines[0], problems=lines) from None


def _learning_time(learning: LearningSpec | None) -> float:
    """Learning time of one task or example (s); the longest allowed if unknown."""
    if isinstance(learning, ContinuousLearning):
        return learning.duration
    if isinstance(learning, StepwiseLearning):
        return learning.steps * (learning.window + 2 * learning.settle)
    return decl.MAX_TASK_S


def sweep_values(sec: Section, f: Field) -> tuple[float, ...] | None:
    """Field ``f`` given as a number, an array of numbers or ``{start, stop, num,
    spacing}``; every value checked against ``f``. () if absent without default, None
    (recorded) if refused."""
    key, path = f.key, sec.child_path(f.key)
    if not sec.has(key):
        default = resolve(f.default, sec.context) if not f.required else None
        if f.required:
            sec.fail(key, "required field is missing")
            return None
        return () if default is None else (float(default),)
    value = sec.data[key]
    if isinstance(value, list):
        if not 1 <= len(value) <= decl.MAX_SWEEP:
            sec.fail(key, f"{len(value)} values; allowed 1..{decl.MAX_SWEEP}")
            return None
        vals = [sec.value(f, f"{path}[{i}]", v) for i, v in enumerate(value)]
        return None if any(v is None for v in vals) else tuple(vals)
    if isinstance(value, dict):
        sw = Section(sec.problems, path, value, sec.context)
        start = sw.value(f, sw.child_path("start"), sw.raw("start"))
        stop = sw.value(f, sw.child_path("stop"), sw.raw("stop"))
        num = sw.get(decl.field("num", "sweep"))
        spacing = sw.get(decl.field("spacing", "sweep"))
        sw.finish()
        if not sw.ok or None in (start, stop, num, spacing):
            sec.bad += 1
            return None
        if spacing == "log":
            if start <= 0 or stop <= 0:
                sec.fail(key, "log spacing needs start > 0 and stop > 0")
                return None
            return tuple(float(v) for v in np.geomspace(start, stop, num))
        return tuple(float(v) for v in np.linspace(start, stop, num))
    checked = sec.value(f, path, value)
    return None if checked is None else (checked,)


def _parse_lambda(sec: Section, ctx: Mapping[str, float]) -> LambdaSpec | None:
    mode = sec.get(decl.field("lambda.mode"))
    spec: LambdaSpec | None = None
    if mode == "fixed":
        value = sec.get(decl.field("lambda.value"))
        spec = LambdaFixed(value) if sec.ok else None
    elif mode == "sweep":
        values = sweep_values(sec, decl.field("lambda.values"))
        assign = sec.get(decl.field("lambda.assign"))
        spec = LambdaSweep(values, assign) if sec.ok and values else None
    elif mode == "control":
        target_error = sec.get(decl.field("lambda.target_error"))
        rho = sec.get(decl.field("lambda.rho"))
        p = sec.get(decl.field("lambda.p"))
        lam_max = sec.get(decl.field("lambda.lam_max"))
        # λ0 within the ceiling this file sets; at least one update per ρ
        sec.context = {**ctx, **({"lam_max": lam_max} if lam_max is not None else {}),
                       **({"rho_rate": float(f"{1.0 / rho:.6g}")} if rho else {})}
        update_rate = sec.get(decl.field("lambda.update_rate"))
        lam0 = sec.get(decl.field("lambda.lam0"))
        baseline = sec.get(decl.field("lambda.baseline"))
        if sec.ok:
            spec = LambdaControl(target_error=target_error, rho=rho, p=p, lam0=lam0,
                                 update_rate=update_rate, lam_max=lam_max,
                                 baseline=bool(baseline))
    else:
        sec.accept_all()
    sec.finish(f"for lambda mode {mode!r}" if mode else "")
    return spec if sec.ok else None


def _parse_learning(sec: Section) -> LearningSpec | None:
    mode = sec.get(decl.field("learning.mode"))
    spec: LearningSpec | None = None
    if mode == "continuous":
        duration = sec.get(decl.field("learning.duration"))
        spec = ContinuousLearning(duration) if sec.ok else None
    elif mode == "stepwise":
        steps = sec.get(decl.field("learning.steps"))
        window = sec.get(decl.field("learning.window"))
        settle = sec.get(decl.field("learning.settle"))
        spec = StepwiseLearning(steps=steps, window=window, settle=settle) if sec.ok else None
    else:
        sec.accept_all()
    sec.finish(f"for learning mode {mode!r}" if mode else "")
    return spec if sec.ok else None


def _parse_init(sec: Section) -> GateInit | None:
    if sec.has("gate_voltage") and sec.has("kappa"):
        sec.fail("kappa", "give either gate_voltage or kappa, not both")
        sec.accept_all()
        return None
    if sec.has("kappa"):
        kappas = sweep_values(sec, decl.field("init.kappa"))
        init = GateInit(kappas=kappas) if kappas else None
    else:
        volts = sweep_values(sec, decl.field("init.gate_voltage"))
        init = GateInit(gate_voltages=volts) if volts else None
    sec.finish()
    return init if sec.ok else None


def _parse_sim(sec: Section) -> SimOverrides | None:
    alpha = sweep_values(sec, decl.field("sim.alpha"))
    gamma = sweep_values(sec, decl.field("sim.gamma"))
    noise = sec.get(decl.field("sim.noise"))
    label = sec.get(decl.field("sim.label_noise"))
    seed = sec.get(decl.field("sim.seed"))
    sec.finish()
    if not sec.ok or alpha is None or gamma is None:
        return None
    return SimOverrides(alpha=alpha, gamma=gamma, noise=noise, label_noise=label, seed=seed)


def _parse_metadata(sec: Section) -> dict[str, str]:
    """The free-form ``[metadata]`` table: short keys -> text, number or boolean (as text)."""
    if len(sec.data) > decl.MAX_METADATA_KEYS:
        sec.fail_path(sec.path, f"{len(sec.data)} keys; allowed at most "
                                f"{decl.MAX_METADATA_KEYS}")
        return {}
    out: dict[str, str] = {}
    for key, value in sec.data.items():
        sec.has(key)
        if not 1 <= len(key) <= decl.MAX_METADATA_KEY or not all(
                c.isascii() and (c.isalnum() or c in "_-.") for c in key):
            sec.fail(key, f"metadata key {show(key)}; allowed 1..{decl.MAX_METADATA_KEY} "
                          "characters of A-Z a-z 0-9 _ - .")
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int):
            out[key] = str(value) if abs(value) < 10**30 else ""
            if not out[key]:
                sec.fail(key, f"{show(value)}; allowed an integer of at most 30 digits")
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                sec.fail(key, f"expected a finite number, got {show(value)}")
            out[key] = repr(value)
        elif isinstance(value, str):
            if len(value) > decl.MAX_METADATA_TEXT or any(
                    ord(c) < 32 and c not in "\t\n" for c in value):
                sec.fail(key, f"text of {len(value)} characters; allowed at most "
                              f"{decl.MAX_METADATA_TEXT}, no control characters but tab "
                              "and newline")
            out[key] = value
        else:
            sec.fail(key, f"expected a string, number or boolean, got {type_name(value)}")
    return out


def _parse_fault_policy(top: Section) -> FaultPolicy:
    """``on_task_fault`` and, with ``"retry"``, ``max_task_retries``."""
    policy = top.get(decl.field("on_task_fault"))
    if policy != "retry":
        if top.has("max_task_retries"):
            top.fail("max_task_retries", "only allowed with on_task_fault = 'retry'")
        return FaultPolicy(policy or "abort", 0)
    retries = top.get(decl.field("max_task_retries"))
    return FaultPolicy(policy, retries or decl.DEFAULT_TASK_RETRIES)


def _parse_tasks(top: Section, bench: Any) -> tuple[TaskSpec, ...] | None:
    """Every ``[[task]]`` table (each checked even if an earlier one failed)."""
    if not top.has("task"):
        top.fail("task", "required field is missing: at least one [[task]] table")
        return None
    raw_tasks = top.raw("task")
    if not isinstance(raw_tasks, list) or not all(isinstance(t, dict) for t in raw_tasks):
        top.fail("task", f"expected [[task]] tables, got {type_name(raw_tasks)}")
        return None
    if not 1 <= len(raw_tasks) <= MAX_TASK_TABLES:
        top.fail("task", f"{len(raw_tasks)} [[task]] tables; allowed 1..{MAX_TASK_TABLES}")
        return None
    tasks: list[TaskSpec | None] = []
    for i, t in enumerate(raw_tasks):
        task = None
        with top.problems.guard():
            task = _parse_task(Section(top.problems, f"task[{i}]", t, top.context), bench)
        tasks.append(task)
    good = [t for t in tasks if t is not None]
    names = [t.name for t in good]
    for i, n in enumerate(names):
        if n in names[:i]:
            top.fail_path(f"task[{i}].name", f"duplicate task name {n!r}; every task needs "
                                             "a unique name")
    return tuple(good) if len(good) == len(tasks) else None


def _node(sec: Section, path: str, value: Any) -> int | None:
    """A node number (an integer, or a decimal string as in ``{ 5 = 0.1 }``)."""
    f = decl.field("task.node")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 6):
            sec.fail_path(path, f"{show(value)} is not a node number; allowed "
                                f"0..{int(sec.context['node_max'])}")
            return None
        value = int(value, 10)
    return sec.value(f, path, value)


def _node_volts(sec: Section, key: str, limit: Field, what: str) -> NodeVolts | None:
    table = sec.raw(key)
    path = sec.child_path(key)
    if table is None:
        return None
    if not isinstance(table, dict) or not table:
        sec.fail(key, "expected a non-empty table of node = volts, e.g. { 0 = 0.0, 5 = 0.45 }")
        return None
    out = []
    for k, v in list(table.items())[: int(sec.context["node_max"]) + 2]:
        node = _node(sec, f"{path}.{k}", k)
        volts = sec.value(limit, f"{path}.{k}", v)
        out.append((node, volts))
    if len(table) > int(sec.context["node_max"]) + 1:
        sec.fail(key, f"{len(table)} nodes; the bench network has "
                      f"{int(sec.context['node_max']) + 1}")
    if not sec.ok:
        return None
    _check_lines(sec, path, [n for n, _ in out], sec.bench, what)
    return tuple(out)


def _check_lines(sec: Section, path: str, nodes: list[int], bench: Any, role: str) -> None:
    lines = bench.output_lines
    can = reachable(lines, role)
    for n in nodes:
        if n not in can:
            raise ProtocolError(sec.file, path, f"node {n} cannot be reached by any {role} "
                                f"line of the bench; allowed {role} nodes: {sorted(can)}")
    if route(nodes, lines, role) is None:
        count = sum(1 for ln in lines if ln.role == role)
        raise ProtocolError(sec.file, path, f"{len(nodes)} {role} nodes {nodes} cannot all be "
                            f"wired at once; the bench has {count} {role} lines")


def _disjoint(sec: Section, key: str, sources: list[int], targets: list[int]) -> None:
    both = sorted(set(sources) & set(targets))
    if both:
        raise sec.error(key, f"node {both[0]} is both a source and a target; a node may "
                             "have only one role")


def _parse_task(sec: Section, bench: Any) -> TaskSpec | None:
    sec.bench = bench
    kind = sec.get(decl.field("task.kind"))
    name = sec.get(decl.field("task.name"))
    if name is None and sec.ok:
        name = sec.path.replace("[", "_").replace("]", "")
    task: TaskSpec | None
    if kind == "allostery":
        sources = _node_volts(sec, "sources", decl.field("task.source_volts"), "source")
        targets = _node_volts(sec, "targets", decl.field("task.target_volts"), "target")
        sec.finish(f"for task kind {kind!r}")
        if not sec.ok or sources is None or targets is None:
            return None
        _disjoint(sec, "targets", [n for n, _ in sources], [n for n, _ in targets])
        task = AllosteryTask(name, sources, targets)
    elif kind == "random_allostery":
        task = _parse_random(sec, bench, name)
    elif kind == "regression":
        task = _parse_regression(sec, bench, name)
    elif kind == "classification":
        task = _parse_classification(sec, bench, name)
    elif kind == "nonlinear_regression":
        task = _parse_nonlinear(sec, bench, name)
    else:
        sec.accept_all()
        return None
    return task if sec.ok else None


def _kind_field(kind: str, key: str) -> Field:
    return decl.field(f"task.{key}", kind)


def _volts_array(sec: Section, key: str, f: Field) -> tuple[float, ...] | None:
    arr = sec.array(key, min_length=1, max_length=int(sec.context["node_max"]) + 1)
    if arr is None:
        return None
    vals = tuple(sec.value(f, f"{sec.child_path(key)}[{i}]", v) for i, v in enumerate(arr))
    return None if None in vals else vals


def _parse_random(sec: Section, bench: Any, name: str) -> RandomAllosteryTasks | None:
    count = sec.get(_kind_field("random_allostery", "count"))
    seed = sec.get(_kind_field("random_allostery", "seed"))
    sv = _volts_array(sec, "source_voltages", decl.field("task.source_volts"))
    alts = sec.array("target_voltages", min_length=1, max_length=decl.MAX_SWEEP)
    tv: list[tuple[float, ...]] = []
    for i, alt in enumerate(alts or []):
        p = f"{sec.child_path('target_voltages')}[{i}]"
        if not isinstance(alt, list) or not alt or len(alt) > int(sec.context["node_max"]) + 1:
            sec.fail_path(p, "expected a non-empty array of target volts (one alternative), "
                             "e.g. [0.091, 0.363]")
            continue
        if len(alt) != len(alts[0]):
            sec.fail_path(p, f"every alternative needs the same number of targets "
                             f"({len(alts[0])})")
            continue
        vals = tuple(sec.value(decl.field("task.target_volts"), f"{p}[{j}]", v)
                     for j, v in enumerate(alt))
        tv.append(vals)
    sec.finish("for task kind 'random_allostery'")
    if not sec.ok or sv is None or not tv:
        return None
    src_nodes = reachable(bench.output_lines, "source")
    tgt_nodes = reachable(bench.output_lines, "target")
    n_src, n_tgt = len(sv), len(tv[0])
    for role, n, pool in (("source", n_src, src_nodes), ("target", n_tgt, tgt_nodes)):
        lines = sum(1 for ln in bench.output_lines if ln.role == role)
        if n > lines or n > len(pool):
            raise sec.error(f"{role}_voltages", f"{n} {role}s requested; the bench has "
                            f"{lines} {role} lines reaching {len(pool)} nodes")
    if n_src + n_tgt > len(src_nodes | tgt_nodes):
        raise sec.error("target_voltages", "not enough distinct nodes for the sources and "
                                           "targets")
    nodes = tuple(range(int(bench.network.n_nodes)))
    return RandomAllosteryTasks(name, count, seed, sv, tuple(tv), nodes)


def _edges(sec: Section, key: str, count: int) -> tuple[tuple[int, int], ...] | None:
    arr = sec.array(key, length=count)
    if arr is None:
        return None
    out = []
    for i, pair in enumerate(arr):
        p = f"{sec.child_path(key)}[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            sec.fail_path(p, f"expected a node pair [a, b], got {show(pair)}")
            continue
        a, b = (_node(sec, f"{p}[{j}]", v) for j, v in enumerate(pair))
        if a is not None and a == b:
            sec.fail_path(p, "the two nodes of an edge must differ")
        out.append((a, b))
    return tuple(out) if sec.ok else None


def _parse_regression(sec: Section, bench: Any, name: str) -> RegressionTask | None:
    def get(key: str) -> Any:
        return sec.get(_kind_field("regression", key))

    inputs = _edges(sec, "input_edges", 2)
    outputs = _edges(sec, "output_edges", 2)
    n_train, n_test, epochs, seed = get("n_train"), get("n_test"), get("epochs"), get("seed")
    scale = get("input_scale")
    sec.finish("for task kind 'regression'")
    if not sec.ok or inputs is None or outputs is None:
        return None
    in_nodes = [n for e in inputs for n in e]
    out_nodes = [n for e in outputs for n in e]
    if len(set(in_nodes)) != 4:
        raise sec.error("input_edges", "the input edges must use four distinct nodes")
    if len(set(out_nodes)) != 4:
        raise sec.error("output_edges", "the output edges must use four distinct nodes")
    _disjoint(sec, "output_edges", in_nodes, out_nodes)
    _check_lines(sec, sec.child_path("input_edges"), in_nodes, bench, "source")
    _check_lines(sec, sec.child_path("output_edges"), out_nodes, bench, "target")
    return RegressionTask(name, inputs, outputs, n_train=n_train, n_test=n_test,
                          epochs=epochs, seed=seed, input_scale=scale)


def _node_list(sec: Section, key: str, length: int) -> tuple[int, ...] | None:
    arr = sec.array(key, length=length)
    if arr is None:
        return None
    nodes = tuple(_node(sec, f"{sec.child_path(key)}[{i}]", v) for i, v in enumerate(arr))
    return None if None in nodes else nodes


def _parse_classification(sec: Section, bench: Any, name: str) -> ClassificationTask | None:
    def get(key: str) -> Any:
        return sec.get(_kind_field("classification", key))

    dataset = get("dataset")
    inputs = _node_list(sec, "input_nodes", 4)
    ground = _node(sec, sec.child_path("ground_node"), sec.raw("ground_node"))
    targets = _node_list(sec, "target_nodes", 3)
    values = {k: get(k) for k in ("n_train_per_class", "n_test_per_class", "epoch_steps",
                                  "epochs", "seed", "input_scale", "target_low",
                                  "target_high")}
    sec.finish("for task kind 'classification'")
    if not sec.ok or inputs is None or targets is None or ground is None:
        return None
    held = [*inputs, ground]
    if len(set(held)) != len(held):
        raise sec.error("input_nodes", "input nodes and the ground node must all differ")
    if len(set(targets)) != len(targets):
        raise sec.error("target_nodes", "target nodes must all differ")
    _disjoint(sec, "target_nodes", held, list(targets))
    _check_lines(sec, sec.child_path("input_nodes"), held, bench, "source")
    _check_lines(sec, sec.child_path("target_nodes"), list(targets), bench, "target")
    low, high = values["target_low"], values["target_high"]
    if high <= low:
        raise sec.error("target_high", f"{high:g} V must exceed target_low {low:g} V")
    return ClassificationTask(name, dataset, inputs, ground, targets, **values)


def _parse_nonlinear(sec: Section, bench: Any, name: str) -> NonlinearRegressionTask | None:
    def get(key: str) -> Any:
        return sec.get(_kind_field("nonlinear_regression", key))

    inp, ground, target, bias = (sec.get(_kind_field("nonlinear_regression", k))
                                 for k in ("input_node", "ground_node", "target_node",
                                           "bias_node"))
    bias_volts = get("bias_volts")
    cp = sec.child_path("coefficients")
    carr = sec.array("coefficients", min_length=1, max_length=20)
    coeffs = tuple(sec.value(_kind_field("nonlinear_regression", "coefficient"), f"{cp}[{i}]",
                             v) for i, v in enumerate(carr or []))
    xp = sec.child_path("x_range")
    xarr = sec.array("x_range", length=2)
    xs_ = tuple(sec.value(decl.field("task.source_volts"), f"{xp}[{i}]", v)
                for i, v in enumerate(xarr or []))
    n_train, n_test, epochs, seed = get("n_train"), get("n_test"), get("epochs"), get("seed")
    sec.finish("for task kind 'nonlinear_regression'")
    if not sec.ok or carr is None or xarr is None:
        return None
    if inp == ground:
        raise sec.error("ground_node", "the ground node must differ from the input node")
    held = [inp, ground]
    if bias is not None:
        if bias in held:
            raise sec.error("bias_node", f"node {bias} is already the input or ground node")
        held.append(bias)
    _disjoint(sec, "target_node", held, [target])
    _check_lines(sec, sec.child_path("input_node"), held, bench, "source")
    _check_lines(sec, sec.child_path("target_node"), [target], bench, "target")
    lo, hi = xs_
    if hi <= lo:
        raise ProtocolError(sec.file, xp, f"expected [low, high] with low < high, got "
                            f"[{lo:g}, {hi:g}]")
    tmax = sec.context["target_max"]
    xs = np.linspace(lo, hi, 201)
    ys = np.polynomial.polynomial.polyval(xs, coeffs)
    if ys.min() < 0.0 or ys.max() > tmax:
        raise ProtocolError(sec.file, cp, f"the target function spans {ys.min():.4g}.."
                            f"{ys.max():.4g} V over x_range; allowed within 0..{tmax:g} V "
                            "(the bench's target limit)")
    return NonlinearRegressionTask(name, inp, ground, target, coeffs, (lo, hi),
                                   n_train=n_train, n_test=n_test, epochs=epochs, seed=seed,
                                   bias_node=bias, bias_volts=float(bias_volts))
