"""Reading and validating protocol files (TOML) against a bench, before anything is opened.

The file format is documented in ``docs/PROTOCOLS.md``. Every problem raises
:class:`ProtocolError` naming the file, the dotted field and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from labctl.protocol.errors import ProtocolError
from labctl.protocol.fields import Section, check_integer, check_number, type_name
from labctl.protocol.model import (
    FAULT_POLICIES,
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
from labctl.protocol.routing import reachable, route

TASK_KINDS = ("allostery", "random_allostery", "regression", "classification",
              "nonlinear_regression")
MAX_SWEEP = 10_000
#: bounds of the free-form [metadata] table: keys, key length, text length (characters)
MAX_METADATA_KEYS = 64
MAX_METADATA_KEY = 64
MAX_METADATA_TEXT = 4096
#: bounds of on_task_fault = "retry": re-runs of one failed task
MAX_TASK_RETRIES = 10
DEFAULT_TASK_RETRIES = 2


def load_protocol(path: str | Path, bench: Any = None) -> Protocol:
    """Read protocol file ``path`` and validate it completely against ``bench``.

    ``bench`` is a BenchConfig; if None, the bench named in the file is loaded (``"sim"``
    or absent: the default simulated bench; otherwise a path relative to the protocol
    file). Raises :class:`ProtocolError` on any problem; opens no instrument.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(file, "", f"cannot read the file: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(file, "", f"not valid TOML: {exc}") from None
    top = Section(file, "", doc)
    name = top.string("name")
    if not name.strip():
        raise top.error("name", "must not be empty")
    description = top.string("description", "")
    bench_ref = top.string("bench", "sim")
    if bench is None:
        bench = _load_bench(file, bench_ref)
    # η in (0, 1], and no more than the bench's clamp-gain potentiometer can set
    eta = top.number("eta", gt=0.0, le=float(f"{getattr(bench, 'eta_max', 1.0):.4g}"))
    record_rate = top.number("record_rate", 50.0, gt=0.0, le=1e4, unit="Hz")
    repeats = top.integer("repeats", 1, minimum=1, maximum=10_000)
    seed = top.integer("seed", 0, minimum=0)
    lam = _parse_lambda(top.table("lambda", {}), bench)
    learning = _parse_learning(top.table("learning", {}))
    init = _parse_init(top.table("init", {}), bench)
    sim = None
    if top.has("sim"):
        if getattr(bench, "backend", "sim") != "sim":
            raise top.error("sim", f"simulator overrides are refused on the hardware bench "
                                   f"{getattr(bench, 'name', '?')!r}; allowed only when the "
                                   f"bench backend is 'sim'")
        sim = _parse_sim(top.table("sim"))
    raw_tasks = top.raw("task", [])
    if not isinstance(raw_tasks, list) or not all(isinstance(t, dict) for t in raw_tasks):
        raise top.error("task", f"expected [[task]] tables, got {type_name(raw_tasks)}")
    if not raw_tasks:
        raise top.error("task", "at least one [[task]] table is required")
    tasks = tuple(_parse_task(Section(file, f"task[{i}]", t), bench)
                  for i, t in enumerate(raw_tasks))
    names = [t.name for t in tasks]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ProtocolError(file, f"task[{i}].name", f"duplicate task name {n!r}; "
                                "every task needs a unique name")
    if isinstance(lam, LambdaControl) and isinstance(learning, StepwiseLearning):
        raise top.error("lambda.mode", "the 'control' mode needs continuous learning "
                                       "(learning.mode = 'continuous')")
    metadata = _parse_metadata(top.table("metadata", {}))
    fault_policy = _parse_fault_policy(top)
    top.finish()
    return Protocol(path=file, text=text, name=name, description=description,
                    bench_ref=bench_ref, bench=bench, eta=eta, lam=lam, learning=learning,
                    init=init, tasks=tasks, record_rate=record_rate, repeats=repeats,
                    seed=seed, sim=sim, metadata=metadata, fault_policy=fault_policy)


def _parse_metadata(sec: Section) -> dict[str, str]:
    """The free-form ``[metadata]`` table: short keys -> text, number or boolean (as text)."""
    if len(sec.data) > MAX_METADATA_KEYS:
        raise ProtocolError(sec.file, sec.path, f"{len(sec.data)} keys; allowed at most "
                            f"{MAX_METADATA_KEYS}")
    out: dict[str, str] = {}
    for key, value in sec.data.items():
        sec.has(key)
        if not 1 <= len(key) <= MAX_METADATA_KEY or not all(
                c.isascii() and (c.isalnum() or c in "_-.") for c in key):
            raise sec.error(key[:MAX_METADATA_KEY], f"metadata key of {len(key)} characters; "
                            f"allowed 1..{MAX_METADATA_KEY} of A-Z a-z 0-9 _ - .")
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int | float):
            out[key] = repr(check_number(sec.file, sec.child_path(key), value)
                            if isinstance(value, float) else value)
        elif isinstance(value, str):
            if len(value) > MAX_METADATA_TEXT:
                raise sec.error(key, f"text of {len(value)} characters; allowed at most "
                                     f"{MAX_METADATA_TEXT}")
            out[key] = value
        else:
            raise sec.error(key, f"expected a string, number or boolean, got "
                                 f"{type_name(value)}")
    return out


def _parse_fault_policy(top: Section) -> FaultPolicy:
    """``on_task_fault`` and, with ``"retry"``, ``max_task_retries``."""
    policy = top.string("on_task_fault", "abort", choices=FAULT_POLICIES)
    if policy != "retry":
        if top.has("max_task_retries"):
            raise top.error("max_task_retries", "only allowed with on_task_fault = 'retry'")
        return FaultPolicy(policy, 0)
    retries = top.integer("max_task_retries", DEFAULT_TASK_RETRIES, minimum=1,
                          maximum=MAX_TASK_RETRIES)
    return FaultPolicy(policy, retries)


def bench_limit(bench: Any, name: str) -> float:
    """Safe limit ``name`` (V) of a BenchConfig (``bench.limits.<name>`` or ``bench.<name>``)."""
    limits = getattr(bench, "limits", None)
    return float(getattr(limits, name) if limits is not None else getattr(bench, name))


def _load_bench(file: str, ref: str) -> Any:
    """Load the bench named by the protocol's ``bench`` field."""
    from labctl.bench.config import load_bench

    target = None if ref == "sim" else Path(file).parent / ref
    try:
        return load_bench(target)
    except (ValueError, OSError) as exc:
        raise ProtocolError(file, "bench", f"cannot load bench {ref!r}: {exc}") from None


def sweep_values(sec: Section, key: str, default: Any = None, **bounds: Any) -> tuple[float, ...]:
    """A number, an array of numbers, or a table ``{start, stop, num, spacing}`` → values.

    ``spacing`` is ``"linear"`` (default) or ``"log"``; every value is checked against
    ``bounds`` (see :func:`check_number`). Returns () if absent and default is None.
    """
    value = sec.raw(key, () if default is None else default)
    path = sec.child_path(key)
    if value == ():
        return ()
    if isinstance(value, list):
        if not value:
            raise ProtocolError(sec.file, path, "expected at least one value")
        if len(value) > MAX_SWEEP:
            raise ProtocolError(sec.file, path, f"at most {MAX_SWEEP} values allowed")
        return tuple(check_number(sec.file, f"{path}[{i}]", v, **bounds)
                     for i, v in enumerate(value))
    if isinstance(value, dict):
        sw = Section(sec.file, path, value)
        start = sw.number("start")
        stop = sw.number("stop")
        num = sw.integer("num", minimum=1, maximum=MAX_SWEEP)
        spacing = sw.string("spacing", "linear", choices=("linear", "log"))
        sw.finish()
        if spacing == "log":
            if start <= 0 or stop <= 0:
                raise ProtocolError(sec.file, path, "log spacing needs start > 0 and stop > 0")
            vals = np.geomspace(start, stop, num)
        else:
            vals = np.linspace(start, stop, num)
        out = []
        for i, v in enumerate(vals):
            out.append(check_number(sec.file, f"{path}[{i}]", float(v), **bounds))
        return tuple(out)
    return (check_number(sec.file, path, value, **bounds),)


def _parse_lambda(sec: Section, bench: Any) -> LambdaSpec:
    mode = sec.string("mode", "fixed", choices=("fixed", "sweep", "control"))
    # λ in [0, 1), and no more than the bench's gain stage can set
    top: dict[str, float] = {"lt": 1.0}
    if hasattr(bench, "lambda_max"):
        top = {"le": float(f"{bench.lambda_max:.4g}")}
    spec: LambdaSpec
    if mode == "fixed":
        spec = LambdaFixed(sec.number("value", 0.0, ge=0.0, **top))
    elif mode == "sweep":
        if not sec.has("values"):
            raise sec.error("values", "required for mode 'sweep': an array of λ, or "
                                      "{start, stop, num}")
        values = sweep_values(sec, "values", ge=0.0, **top)
        assign = sec.string("assign", "product", choices=("product", "cycle"))
        spec = LambdaSweep(values, assign)
    else:
        lam0 = sec.number("lam0", gt=0.0, **top)  # dλ/dt ∝ λ: λ0 = 0 would never move
        lam_max = sec.number("lam_max", top.get("le", 0.5), gt=0.0, **top)
        if lam0 > lam_max:
            raise sec.error("lam0", f"{lam0:g} exceeds lam_max {lam_max:g}; allowed "
                                    "0 <= lam0 <= lam_max")
        spec = LambdaControl(
            target_error=sec.number("target_error", gt=0.0, unit="V²"),
            rho=sec.number("rho", gt=0.0, unit="s"),
            p=sec.number("p", gt=0.0, le=10.0),
            lam0=lam0,
            # λ is updated between DAQ blocks: at most once per block
            update_rate=sec.number("update_rate", 10.0, ge=10.0,
                                   le=_block_rate(bench), unit="Hz"),
            lam_max=lam_max,
        )
    sec.finish(f"for lambda mode {mode!r}")
    return spec


def _block_rate(bench: Any) -> float:
    """DAQ blocks per second of the bench (1e4 when the bench does not say)."""
    duration = getattr(bench, "block_duration", None)
    return float(f"{1.0 / duration:.6g}") if duration else 1e4


def _parse_learning(sec: Section) -> LearningSpec:
    mode = sec.string("mode", "continuous", choices=("continuous", "stepwise"))
    spec: LearningSpec
    if mode == "continuous":
        spec = ContinuousLearning(sec.number("duration", gt=0.0, le=86400.0, unit="s"))
    else:
        spec = StepwiseLearning(
            steps=sec.integer("steps", minimum=1, maximum=10_000_000),
            window=sec.number("window", 100e-6, gt=0.0, le=10.0, unit="s"),
            settle=sec.number("settle", 1e-3, ge=0.0, le=10.0, unit="s"),
        )
    sec.finish(f"for learning mode {mode!r}")
    return spec


def _parse_init(sec: Section, bench: Any) -> GateInit:
    gmin, gmax = bench_limit(bench, "gate_min"), bench_limit(bench, "gate_max")
    if sec.has("gate_voltage") and sec.has("kappa"):
        raise sec.error("kappa", "give either gate_voltage or kappa, not both")
    if sec.has("kappa"):
        bounds: dict[str, float] = {"gt": 0.0}
        if hasattr(bench, "conductance_range"):  # conductances reachable by every edge (S)
            lo, hi = bench.conductance_range()
            if 0.0 < lo < hi:
                bounds = {"ge": float(f"{lo:.3g}"), "le": float(f"{hi:.3g}")}
        init = GateInit(kappas=sweep_values(sec, "kappa", unit="S", **bounds))
    else:
        volts = sweep_values(sec, "gate_voltage", [(gmin + gmax) / 2],
                             ge=gmin, le=gmax, unit="V")
        init = GateInit(gate_voltages=volts)
    sec.finish()
    return init


def _parse_sim(sec: Section) -> SimOverrides:
    noise = sec.number("noise", None, ge=0.0, unit="V") if sec.has("noise") else None
    label = sec.number("label_noise", None, ge=0.0, unit="V") if sec.has("label_noise") else None
    seed = sec.integer("seed", None, minimum=0) if sec.has("seed") else None
    sim = SimOverrides(alpha=sweep_values(sec, "alpha", gt=0.0, unit="1/s"),
                       gamma=sweep_values(sec, "gamma", gt=0.0, unit="1/s"),
                       noise=noise, label_noise=label, seed=seed)
    sec.finish()
    return sim


def _node(sec: Section, path: str, value: Any, bench: Any) -> int:
    n_nodes = int(bench.network.n_nodes)
    if isinstance(value, str):
        try:
            value = int(value, 10)
        except ValueError:
            raise ProtocolError(sec.file, path, f"{value!r} is not a node number; allowed "
                                f"0..{n_nodes - 1}") from None
    node = check_integer(sec.file, path, value)
    if not 0 <= node < n_nodes:
        raise ProtocolError(sec.file, path, f"node {node} does not exist in the bench "
                            f"network; allowed 0..{n_nodes - 1}")
    return node


def _node_volts(sec: Section, key: str, bench: Any, limit: float, what: str) -> NodeVolts:
    table = sec.raw(key)
    path = sec.child_path(key)
    if not isinstance(table, dict) or not table:
        raise ProtocolError(sec.file, path, "expected a non-empty table of node = volts, "
                            "e.g. { 0 = 0.0, 5 = 0.45 }")
    out = []
    for k, v in table.items():
        node = _node(sec, f"{path}.{k}", k, bench)
        volts = check_number(sec.file, f"{path}.{k}", v, ge=0.0, le=limit, unit="V")
        out.append((node, volts))
    _check_lines(sec, path, [n for n, _ in out], bench, what)
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


def _parse_task(sec: Section, bench: Any) -> TaskSpec:
    kind = sec.string("kind", choices=TASK_KINDS)
    index = sec.path
    name = sec.string("name", index.replace("[", "_").replace("]", ""))
    node_max = bench_limit(bench, "node_voltage_max")
    smax = min(bench_limit(bench, "source_voltage_max"), node_max)
    tmax = min(bench_limit(bench, "target_voltage_max"), node_max)
    task: TaskSpec
    if kind == "allostery":
        sources = _node_volts(sec, "sources", bench, smax, "source")
        targets = _node_volts(sec, "targets", bench, tmax, "target")
        _disjoint(sec, "targets", [n for n, _ in sources], [n for n, _ in targets])
        task = AllosteryTask(name, sources, targets)
    elif kind == "random_allostery":
        count = sec.integer("count", minimum=1, maximum=100_000)
        seed = sec.integer("seed", 0, minimum=0)
        sv = tuple(check_number(sec.file, f"{sec.child_path('source_voltages')}[{i}]", v,
                                ge=0.0, le=smax, unit="V")
                   for i, v in enumerate(sec.array("source_voltages", min_length=1)))
        alts = sec.array("target_voltages", min_length=1)
        tv = []
        for i, alt in enumerate(alts):
            p = f"{sec.child_path('target_voltages')}[{i}]"
            if not isinstance(alt, list) or not alt:
                raise ProtocolError(sec.file, p, "expected a non-empty array of target volts "
                                    "(one alternative), e.g. [0.091, 0.363]")
            if len(alt) != len(alts[0]):
                raise ProtocolError(sec.file, p, "every alternative needs the same number of "
                                    f"targets ({len(alts[0])})")
            tv.append(tuple(check_number(sec.file, f"{p}[{j}]", v, ge=0.0, le=tmax, unit="V")
                            for j, v in enumerate(alt)))
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
        task = RandomAllosteryTasks(name, count, seed, sv, tuple(tv), nodes)
    elif kind == "regression":
        task = _parse_regression(sec, bench, name, smax)
    elif kind == "classification":
        task = _parse_classification(sec, bench, name, smax, tmax)
    else:
        task = _parse_nonlinear(sec, bench, name, smax, tmax)
    sec.finish(f"for task kind {kind!r}")
    return task


def _edges(sec: Section, key: str, bench: Any, count: int) -> tuple[tuple[int, int], ...]:
    arr = sec.array(key, length=count)
    out = []
    for i, pair in enumerate(arr):
        p = f"{sec.child_path(key)}[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ProtocolError(sec.file, p, "expected a node pair [a, b]")
        a, b = (_node(sec, f"{p}[{j}]", v, bench) for j, v in enumerate(pair))
        if a == b:
            raise ProtocolError(sec.file, p, "the two nodes of an edge must differ")
        out.append((a, b))
    return tuple(out)


def _parse_regression(sec: Section, bench: Any, name: str, smax: float) -> RegressionTask:
    inputs = _edges(sec, "input_edges", bench, 2)
    outputs = _edges(sec, "output_edges", bench, 2)
    in_nodes = [n for e in inputs for n in e]
    out_nodes = [n for e in outputs for n in e]
    if len(set(in_nodes)) != 4:
        raise sec.error("input_edges", "the input edges must use four distinct nodes")
    if len(set(out_nodes)) != 4:
        raise sec.error("output_edges", "the output edges must use four distinct nodes")
    _disjoint(sec, "output_edges", in_nodes, out_nodes)
    _check_lines(sec, sec.child_path("input_edges"), in_nodes, bench, "source")
    _check_lines(sec, sec.child_path("output_edges"), out_nodes, bench, "target")
    return RegressionTask(
        name, inputs, outputs,
        n_train=sec.integer("n_train", 20, minimum=1),
        n_test=sec.integer("n_test", 100, minimum=0),
        epochs=sec.integer("epochs", 1, minimum=1),
        seed=sec.integer("seed", 0, minimum=0),
        input_scale=sec.number("input_scale", smax, gt=0.0, le=smax, unit="V"),
    )


def _parse_classification(sec: Section, bench: Any, name: str, smax: float,
                          tmax: float) -> ClassificationTask:
    dataset = sec.string("dataset", "iris", choices=("iris",))
    ip = sec.child_path("input_nodes")
    inputs = tuple(_node(sec, f"{ip}[{i}]", v, bench)
                   for i, v in enumerate(sec.array("input_nodes", length=4)))
    ground = _node(sec, sec.child_path("ground_node"), sec.raw("ground_node"), bench)
    tp = sec.child_path("target_nodes")
    targets = tuple(_node(sec, f"{tp}[{i}]", v, bench)
                    for i, v in enumerate(sec.array("target_nodes", length=3)))
    held = [*inputs, ground]
    if len(set(held)) != len(held):
        raise sec.error("input_nodes", "input nodes and the ground node must all differ")
    if len(set(targets)) != len(targets):
        raise sec.error("target_nodes", "target nodes must all differ")
    _disjoint(sec, "target_nodes", held, list(targets))
    _check_lines(sec, ip, held, bench, "source")
    _check_lines(sec, tp, list(targets), bench, "target")
    low = sec.number("target_low", 0.2 * tmax, ge=0.0, le=tmax, unit="V")
    high = sec.number("target_high", 0.8 * tmax, ge=0.0, le=tmax, unit="V")
    if high <= low:
        raise sec.error("target_high", f"{high:g} V must exceed target_low {low:g} V")
    return ClassificationTask(
        name, dataset, inputs, ground, targets,
        n_train_per_class=sec.integer("n_train_per_class", 10, minimum=1, maximum=50),
        n_test_per_class=sec.integer("n_test_per_class", 40, minimum=0, maximum=49),
        epoch_steps=sec.integer("epoch_steps", 30, minimum=1),
        epochs=sec.integer("epochs", 1, minimum=1),
        seed=sec.integer("seed", 0, minimum=0),
        input_scale=sec.number("input_scale", smax, gt=0.0, le=smax, unit="V"),
        target_low=low, target_high=high,
    )


def _parse_nonlinear(sec: Section, bench: Any, name: str, smax: float,
                     tmax: float) -> NonlinearRegressionTask:
    inp = _node(sec, sec.child_path("input_node"), sec.raw("input_node"), bench)
    ground = _node(sec, sec.child_path("ground_node"), sec.raw("ground_node"), bench)
    target = _node(sec, sec.child_path("target_node"), sec.raw("target_node"), bench)
    if inp == ground:
        raise sec.error("ground_node", "the ground node must differ from the input node")
    _disjoint(sec, "target_node", [inp, ground], [target])
    _check_lines(sec, sec.child_path("input_node"), [inp, ground], bench, "source")
    _check_lines(sec, sec.child_path("target_node"), [target], bench, "target")
    cp = sec.child_path("coefficients")
    coeffs = tuple(check_number(sec.file, f"{cp}[{i}]", v)
                   for i, v in enumerate(sec.array("coefficients", min_length=1)))
    xp = sec.child_path("x_range")
    lo, hi = (check_number(sec.file, f"{xp}[{i}]", v, ge=0.0, le=smax, unit="V")
              for i, v in enumerate(sec.array("x_range", length=2)))
    if hi <= lo:
        raise ProtocolError(sec.file, xp, f"expected [low, high] with low < high, got "
                            f"[{lo:g}, {hi:g}]")
    xs = np.linspace(lo, hi, 201)
    ys = np.polynomial.polynomial.polyval(xs, coeffs)
    if ys.min() < 0.0 or ys.max() > tmax:
        raise ProtocolError(sec.file, cp, f"the target function spans {ys.min():.4g}.."
                            f"{ys.max():.4g} V over x_range; allowed within 0..{tmax:g} V "
                            "(the bench's target limit)")
    return NonlinearRegressionTask(
        name, inp, ground, target, coeffs, (lo, hi),
        n_train=sec.integer("n_train", 20, minimum=2),
        n_test=sec.integer("n_test", 100, minimum=0),
        epochs=sec.integer("epochs", 1, minimum=1),
        seed=sec.integer("seed", 0, minimum=0),
    )


