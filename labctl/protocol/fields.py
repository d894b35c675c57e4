"""Every field of a protocol file, declared once: type, default, range, unit, meaning.

The loader (:mod:`labctl.protocol.loader`) checks values against these declarations and
``docs/PROTOCOLS.md`` shows tables generated from them (:mod:`labctl.protocol.doctables`;
a test keeps them equal).
Bounds that depend on the bench are :class:`~labctl.fieldspec.Ref` s into the context
built by :func:`bench_context`.

Physical grounds of the bench-derived bounds:

* ``record_rate`` at most the DAQ sample rate (a row averages at least one sample) and at
  least one row per task (1 / ``learning.duration``, or per stepwise task);
* ``learning.duration`` and ``lambda.rho`` at least one DAQ block: the executor acts
  (records, updates λ, applies operator commands) once per block;
* ``lambda.target_error`` at most the largest error the bench can produce: every node and
  every desired target voltage lies in [0, V_node,max] (a passive network stays within its
  source voltages, the bench limits keep both below ``node_voltage_max``), so each of the
  N_T targets contributes at most V_node,max², and L = ½ Σ_T (Ṽ_T − V_T)² ≤ ½ N_T V_node,max²
  with N_T the bench's number of target lines (0.72 V² on the simulated bench). A larger
  L̃ would make (L̃/L)^p > 1 for ever: λ would only grow;
* ``lambda.update_rate`` between one update per ρ (slower, the controller's exponential
  step exp(Δt/ρ ...) overshoots its own time scale) and one per DAQ block;
* ``lambda.lam0`` at least the gain stage's 1 ppm resolution (a smaller λ is 0 on the
  bench, and dλ/dt ∝ λ would never move it), λ at most the stage's largest λ;
* ``sim.alpha`` at most 1/dt = 500 s⁻¹ (the twin integrates the gate rule with explicit
  Euler steps of dt = 2 ms), ``sim.gamma`` at most 10⁶ s⁻¹ (relaxation in 1 µs, already
  indistinguishable from the quasi-static γ = ∞ at that step).
"""

from __future__ import annotations

from typing import Any

from labctl.fieldspec import Field, Ref

#: characters of protocol and task names (they become file names and HDF5 attributes)
NAME_CHARS = "A-Za-z0-9_.-"
MAX_NAME = 64
#: largest seed (fits the run file's int64 attributes)
MAX_SEED = 2**63 - 1
#: longest task (s): one day per task or presented example
MAX_TASK_S = 86400.0
#: most values of one sweep, tasks of one generator, runs of each task
MAX_SWEEP = 10_000
MAX_COUNT = 100_000
MAX_REPEATS = 10_000
MAX_SAMPLES = 10_000
#: λ resolution of the gate controller's gain stage (1 ppm)
LAMBDA_RESOLUTION = 1e-6
#: the gate controller's timed learning window (Timer1, firmware/PROTOCOL.md), s
WINDOW_RANGE_S = (10e-6, 30e-3)
#: stable explicit-Euler gate step of the simulated twin: α dt ≤ 1 with dt = 2 ms
ALPHA_MAX = 500.0
GAMMA_MAX = 1e6
#: bounds of the free-form [metadata] table
MAX_METADATA_KEYS = 64
MAX_METADATA_KEY = 64
MAX_METADATA_TEXT = 4096
#: on_task_fault = "retry": re-runs of one failed task
MAX_TASK_RETRIES = 10
DEFAULT_TASK_RETRIES = 2
FAULT_POLICIES = ("abort", "skip", "retry")
TASK_KINDS = ("allostery", "random_allostery", "regression", "classification",
              "nonlinear_regression")

BLOCK = Ref("block_duration", "one DAQ block")
SAMPLE_RATE = Ref("sample_rate", "the DAQ sample rate")
ETA_MAX = Ref("eta_max", "the clamp-gain potentiometer's largest η")
LAMBDA_MAX = Ref("lambda_max", "the gain stage's largest λ")
SOURCE_MAX = Ref("source_max", "the bench's source limit")
TARGET_MAX = Ref("target_max", "the bench's target limit")
NODE_MAX = Ref("node_max", "the last node of the bench network")


def _seed(path: str, help_text: str = "seed") -> Field:
    return Field(path, "integer", help_text, default=0, ge=0, le=MAX_SEED)


TOP = (
    Field("name", "string", "short name of the experiment (used in run-file names)",
          max_length=MAX_NAME, chars=NAME_CHARS),
    Field("description", "string", "free text", default="", max_length=10_000),
    Field("bench", "string", '`"sim"` = the default simulated bench, else a bench file '
          "path relative to the protocol (a regular file of at most 1 MiB)", default="sim",
          max_length=4096),
    Field("eta", "number", "nudge amplitude η (the clamp-gain potentiometer sets it in "
          "steps of 1/129; the rule divides by η)",
          ge=Ref("eta_min", "one potentiometer step"), le=ETA_MAX),
    Field("record_rate", "number", "rows per second written to the run file", unit="Hz",
          default=50.0, ge=Ref("min_record_rate", "one row per task: 1 / learning time"),
          le=SAMPLE_RATE),
    Field("repeats", "integer", "each task is run this many times", default=1, ge=1,
          le=MAX_REPEATS),
    _seed("seed", "base of every task's seed"),
    Field("on_task_fault", "string", "what a task that still fails after the "
          "instrument-level recoveries does (see below)", default="abort",
          choices=FAULT_POLICIES),
    Field("max_task_retries", "integer", 'only with on_task_fault = "retry": re-runs of '
          "one failed task", default=DEFAULT_TASK_RETRIES, ge=1, le=MAX_TASK_RETRIES),
)

LAMBDA = (
    Field("lambda.mode", "string", "how λ is set", default="fixed",
          choices=("fixed", "sweep", "control")),
    Field("lambda.value", "number", "fixed: λ of every task", default=0.0, ge=0.0,
          le=LAMBDA_MAX),
    Field("lambda.values", "numbers", "sweep: the λ values", ge=0.0, le=LAMBDA_MAX),
    Field("lambda.assign", "string", 'sweep: "product" runs every task at every λ, '
          '"cycle" gives task i values[i % len]', default="product",
          choices=("product", "cycle")),
    Field("lambda.target_error", "number", "control: target error L̃", unit="V²",
          ge=1e-12, le=Ref("max_error", "½ N_T V_node,max², the largest error the bench "
                                        "can produce")),
    Field("lambda.rho", "number", "control: time scale ρ of dλ/dt = ρ⁻¹[(L̃/L)^p − 1] λ",
          unit="s", ge=BLOCK, le=MAX_TASK_S),
    Field("lambda.p", "number", "control: exponent p", ge=1e-3, le=10.0),
    Field("lambda.lam0", "number", "control: initial λ (> 0 since dλ/dt ∝ λ)",
          ge=LAMBDA_RESOLUTION, le=Ref("lam_max", "lam_max")),
    Field("lambda.baseline", "boolean", "control: also run every task at λ = 0 with the "
          "same settings, its early-stopping baseline (named '<task> baseline')",
          default=False),
    Field("lambda.lam_max", "number", "control: ceiling of λ", default=LAMBDA_MAX,
          ge=LAMBDA_RESOLUTION, le=LAMBDA_MAX),
    Field("lambda.update_rate", "number", "control: λ updates per second (at most one per "
          "DAQ block)", unit="Hz", default=Ref("block_rate", "one per DAQ block"),
          ge=Ref("rho_rate", "one update per ρ"),
          le=Ref("block_rate", "one update per DAQ block")),
)

LEARNING = (
    Field("learning.mode", "string", '"continuous" or "stepwise" (first-generation '
          "benches)", default="continuous", choices=("continuous", "stepwise")),
    Field("learning.duration", "number", "continuous: learning time per task (or per "
          "presented example)", unit="s", ge=BLOCK, le=MAX_TASK_S),
    Field("learning.steps", "integer", "stepwise: free + clamped measurement + update "
          "window, this many times", ge=1, le=10_000_000),
    Field("learning.window", "number", "stepwise: learning window per step (timed by the "
          "gate controller)", unit="s", default=100e-6, ge=WINDOW_RANGE_S[0],
          le=WINDOW_RANGE_S[1]),
    Field("learning.settle", "number", "stepwise: settling time before each measurement",
          unit="s", default=1e-3, ge=0.0, le=10.0),
)

INIT = (
    Field("init.gate_voltage", "numbers", "uniform initial gate voltage; several values "
          "are a scan", unit="V", default=Ref("gate_mid", "mid gate range"),
          ge=Ref("gate_min", "the bench's gate_min"), le=Ref("gate_max", "the bench's "
                                                                         "gate_max")),
    Field("init.kappa", "numbers", "uniform initial conductance κ, set per edge through the "
          "bench calibration (instead of gate_voltage)", unit="S",
          ge=Ref("kappa_min", "the smallest κ every edge reaches"),
          le=Ref("kappa_max", "the largest κ every edge reaches")),
)

SWEEP = (
    Field("start", "number", "first value (same unit and range as the swept field)"),
    Field("stop", "number", "last value (same unit and range as the swept field)"),
    Field("num", "integer", "number of values", ge=1, le=MAX_SWEEP),
    Field("spacing", "string", "linear or logarithmic (log needs start, stop > 0)",
          default="linear", choices=("linear", "log")),
)

SIM = (
    Field("sim.alpha", "numbers", "learning rate α of the simulated twin (bench: 41.7)",
          unit="1/s", default=None, ge=1e-3, le=ALPHA_MAX),
    Field("sim.gamma", "numbers", "node relaxation rate γ (out-of-equilibrium physics; "
          "absent = quasi-static)", unit="1/s", default=None, ge=1e-2, le=GAMMA_MAX),
    Field("sim.noise", "number", "white noise on the learning rule", unit="V/√s",
          default=None, ge=0.0, le=1.0),
    Field("sim.label_noise", "number", "noise on the desired outputs", unit="V",
          default=None, ge=0.0, le=TARGET_MAX),
    Field("sim.seed", "integer", "seed of the simulator's noise", default=None, ge=0,
          le=MAX_SEED),
)

TASK = (
    Field("task.kind", "string", "which task", choices=TASK_KINDS),
    Field("task.name", "string", "unique task name (default task_<i>)", default=None,
          max_length=MAX_NAME, chars=NAME_CHARS),
    Field("task.node", "integer", "a node number of the bench network", ge=0, le=NODE_MAX),
    Field("task.source_volts", "number", "a source voltage", unit="V", ge=0.0,
          le=SOURCE_MAX),
    Field("task.target_volts", "number", "a desired target voltage", unit="V", ge=0.0,
          le=TARGET_MAX),
)
ALLOSTERY = (
    Field("task.sources", "table", "{ node = volts, ... } held at the source voltages"),
    Field("task.targets", "table", "{ node = volts, ... } trained toward the target "
          "voltages"),
)
RANDOM_ALLOSTERY = (
    Field("task.count", "integer", "number of random tasks", ge=1, le=MAX_COUNT),
    _seed("task.seed", "seed of the draw"),
    Field("task.source_voltages", "array", "array of source volts, put on distinct random "
          "nodes"),
    Field("task.target_voltages", "array", "array of alternatives, each an array of target "
          "volts"),
)
REGRESSION = (
    Field("task.input_edges", "array", "two node pairs [[a, b], [c, d]]"),
    Field("task.output_edges", "array", "two node pairs"),
    Field("task.n_train", "integer", "training examples", default=20, ge=1, le=MAX_SAMPLES),
    Field("task.n_test", "integer", "test examples", default=100, ge=0, le=MAX_SAMPLES),
    Field("task.epochs", "integer", "passes over the training set", default=1, ge=1,
          le=MAX_SAMPLES),
    _seed("task.seed", "seed of the examples"),
    Field("task.input_scale", "number", "scale of the U(0, 1) input drops", unit="V",
          default=SOURCE_MAX, gt=0.0, le=SOURCE_MAX),
)
CLASSIFICATION = (
    Field("task.dataset", "string", "the data set", default="iris", choices=("iris",)),
    Field("task.input_nodes", "array", "four input nodes"),
    Field("task.ground_node", "integer", "node held at 0 V", ge=0, le=NODE_MAX),
    Field("task.target_nodes", "array", "three target nodes, one per class"),
    Field("task.n_train_per_class", "integer", "training examples per class", default=10,
          ge=1, le=50),
    Field("task.n_test_per_class", "integer", "test examples per class", default=40, ge=0,
          le=49),
    Field("task.epoch_steps", "integer", "examples presented per epoch", default=30, ge=1,
          le=MAX_SAMPLES),
    Field("task.epochs", "integer", "epochs", default=1, ge=1, le=MAX_SAMPLES),
    _seed("task.seed", "seed of the train/test split"),
    Field("task.input_scale", "number", "measurements are scaled to [0, input_scale]",
          unit="V", default=SOURCE_MAX, gt=0.0, le=SOURCE_MAX),
    Field("task.target_low", "number", "set-point of the wrong classes", unit="V",
          default=Ref("target_low", "20 % of the target limit"), ge=0.0, le=TARGET_MAX),
    Field("task.target_high", "number", "set-point of the right class (> target_low)",
          unit="V", default=Ref("target_high", "80 % of the target limit"), ge=0.0,
          le=TARGET_MAX),
)
NONLINEAR = (
    Field("task.input_node", "integer", "node carrying the input x", ge=0, le=NODE_MAX),
    Field("task.ground_node", "integer", "node held at 0 V", ge=0, le=NODE_MAX),
    Field("task.target_node", "integer", "node trained toward V(x)", ge=0, le=NODE_MAX),
    Field("task.bias_node", "integer", "node held at bias_volts in every example (absent: "
          "none; then V(0) = 0 and V(x) ≤ x)", default=None, ge=0, le=NODE_MAX),
    Field("task.bias_volts", "number", "voltage of the bias node", unit="V",
          default=SOURCE_MAX, ge=0.0, le=SOURCE_MAX),
    Field("task.coefficients", "array", "c0, c1, ... of V = c0 + c1 x + c2 x² (V(x) must "
          "stay within the target limit over x_range)"),
    Field("task.coefficient", "number", "one coefficient c_k", unit="V/V^k", ge=-1e3,
          le=1e3),
    Field("task.x_range", "array", "[low, high] of x, each within 0..the source limit (V)"),
    Field("task.n_train", "integer", "training examples", default=20, ge=2, le=MAX_SAMPLES),
    Field("task.n_test", "integer", "test examples", default=100, ge=0, le=MAX_SAMPLES),
    Field("task.epochs", "integer", "passes over the training set", default=1, ge=1,
          le=MAX_SAMPLES),
    _seed("task.seed", "seed of the examples"),
)
TASK_FIELDS = {"allostery": ALLOSTERY, "random_allostery": RANDOM_ALLOSTERY,
               "regression": REGRESSION, "classification": CLASSIFICATION,
               "nonlinear_regression": NONLINEAR}

_ALL = {f"{group}:{f.path}": f for group, fields in (
    ("", TOP + LAMBDA + LEARNING + INIT + SIM + TASK),
    ("sweep", SWEEP), *TASK_FIELDS.items()) for f in fields}


def field(path: str, group: str = "") -> Field:
    """The declaration of ``path`` (``group`` = a task kind, or ``"sweep"``)."""
    return _ALL[f"{group}:{path}"]


def bench_context(bench: Any) -> dict[str, float]:
    """The bench-derived bounds (see the module docstring) of BenchConfig ``bench``."""
    from labctl.bench.gate_encoding import ETA_DIVISOR
    from labctl.protocol.routing import reachable

    limits = getattr(bench, "limits", bench)
    node_v = float(limits.node_voltage_max)
    smax = min(float(limits.source_voltage_max), node_v)
    tmax = min(float(limits.target_voltage_max), node_v)
    block = float(getattr(bench, "block_duration", 0.1))
    lines = tuple(getattr(bench, "output_lines", ()))
    n_targets = max(1, sum(1 for ln in lines if ln.role == "target"))
    ctx = {
        "sample_rate": float(getattr(bench, "sample_rate", 1e4)),
        "block_duration": block,
        "block_rate": float(f"{1.0 / block:.6g}"),
        "eta_min": float(f"{1.0 / ETA_DIVISOR:.4g}"),
        "eta_max": float(f"{getattr(bench, 'eta_max', 1.0):.4g}"),
        "lambda_max": float(f"{getattr(bench, 'lambda_max', 0.999999):.4g}"),
        "source_max": smax, "target_max": tmax,
        "target_low": 0.2 * tmax, "target_high": 0.8 * tmax,
        "node_max": float(int(bench.network.n_nodes) - 1),
        "max_error": float(f"{0.5 * n_targets * node_v**2:.4g}"),
        "gate_min": float(limits.gate_min), "gate_max": float(limits.gate_max),
        "gate_mid": 0.5 * (float(limits.gate_min) + float(limits.gate_max)),
        "n_target_lines": float(len(reachable(lines, "target"))),
    }
    if hasattr(bench, "conductance_range"):  # κ every edge reaches over the gate range (S)
        lo, hi = bench.conductance_range()
        ctx["kappa_min"], ctx["kappa_max"] = float(f"{lo:.3g}"), float(f"{hi:.3g}")
    return ctx
