"""The bench campaign: 150 two-source two-target tasks x 20 s of continuous-time twin dynamics.

λ spread over 0–0.055, η = 0.22, learning on from uniform 2.5 V gates. Prints:

* baseline vs engine on the first ``baseline_s`` simulated seconds (default 2 s) of the same
  150 tasks: wall times, ratio and agreement (max relative difference of gates and of node
  voltages, the latter relative to the 0.453 V node range). The baseline is
  labctl.physics.reference.twin_bench_reference (explicit Euler, batched dense NumPy
  Newton per copy per step); its 20 s figure is extrapolated unless ``--full-baseline``;
* the full campaign with the engine: wall and CPU time against the 30 s goal, median L/L0
  and peak memory (its arrays by tracemalloc, and the process peak RSS).

* the runner against the physics (issue 16, point 1): the same number of tasks as a
  protocol (random two-source two-target tasks, λ 0–0.055, η 0.22, 10 rows/s) through
  ``labctl run`` serially (a subprocess; its run time from the first task to the end, and
  its whole wall time with start-up), against two physics-alone baselines measured in
  the same run: the batched engine above (all tasks in one array), and the same tasks'
  physics stepped one task at a time in the DAQ's 0.1 s blocks as the serial run steps it
  (``TwinBench.advance``, no DAQ, rows or file); also the simulated DAQ alone (the same
  blocks read and dropped), as every noisy sample (32 channels × 10 kS/s, what ``--raw``
  reads) and as the record-interval means a run without ``--raw`` reads.
  ``--no-runner`` skips it.

``--repeat=R`` instead runs the batched physics and ``labctl run`` in turn (physics, run,
physics, …: R runs, R + 1 physics measurements) and prints each run's CPU time, less the
start-up CPU of a one-task run measured just before it, over the mean of the physics
measured just before and just after it, and the median (this machine's speed drifts by
tens of per cent from one minute to the next; a run bracketed by its baselines shares
the drift).

BLAS is limited to one thread (set before NumPy loads): both sides use one core. Run:
``python benchmarks/bench_physics_campaign.py [n_tasks] [seconds] [--full-baseline]
[--no-runner] [--repeat=R]``.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from protocol_templates import RECORD_RATE, campaign_protocol  # noqa: E402

from labctl.network import periodic_lattice  # noqa: E402
from labctl.physics import BenchParams, TwinBenchBatch  # noqa: E402
from labctl.physics.reference import twin_bench_reference  # noqa: E402
from labctl.physics.tasks import random_allostery  # noqa: E402
from labctl.protocol import compile_plan, load_protocol  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _engine(net, params, sources, targets, lam, seconds):
    bench = TwinBenchBatch(net, params, sources, targets, lam=lam, gates0=np.full(32, 2.5))
    err0 = bench.error()
    bench.set_learning(True)
    v_f, v_c = bench.advance(seconds, 20)
    return bench, err0, v_f[:, -1], v_c[:, -1]


def main(n_tasks: int = 150, seconds: float = 20.0, full_baseline: bool = False,
         baseline_s: float = 2.0) -> tuple[float, float]:
    """Run baseline and engine, then the full campaign, and print the figures; returns the
    engine's wall and CPU time (s) for the full campaign."""
    net = periodic_lattice(4, 4)
    params = BenchParams()
    pairs = [random_allostery(net, s) for s in range(n_tasks)]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    lam = np.linspace(0.0, 0.055, n_tasks)
    t0 = time.perf_counter()
    _engine(net, params, sources[:1], targets[:1], lam[:1], 0.01)  # compile or load cache
    t_warm = time.perf_counter() - t0
    rss0 = _peak_mib()
    span = seconds if full_baseline else min(baseline_s, seconds)
    t0 = time.perf_counter()
    g_ref, vf_ref, vc_ref = twin_bench_reference(net, params, sources, targets, lam,
                                                 np.full(32, 2.5), span)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench, _, vf, vc = _engine(net, params, sources, targets, lam, span)
    t_new = time.perf_counter() - t0
    d_gate = float(np.max(np.abs(bench.gates - g_ref) / g_ref))
    d_volt = float(max(np.max(np.abs(vf - vf_ref)), np.max(np.abs(vc - vc_ref))))
    d_volt /= params.mosfet.node_max
    print(f"{n_tasks} tasks, dt = {params.dt * 1e3:g} ms, one BLAS thread; compile / cache "
          f"load {t_warm:.1f} s (not in the timings)")
    print(f"first {span:g} s simulated: baseline {t_ref:.1f} s, engine {t_new:.2f} s, ratio "
          f"{t_ref / t_new:.1f}x; agreement: gates {d_gate:.1e}, node voltages {d_volt:.1e} "
          "(max relative difference)")
    tracemalloc.start()  # counts NumPy arrays; negligible cost here (no per-step Python)
    t0, c0 = time.perf_counter(), time.process_time()
    bench, err0, _, _ = _engine(net, params, sources, targets, lam, seconds)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    arrays = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    base = t_ref * seconds / span
    label = "measured" if span == seconds else f"extrapolated from {span:g} s"
    print(f"full campaign {n_tasks} x {seconds:g} s: engine {wall:.1f} s wall (goal <= 30 s "
          f"for 150 x 20 s); baseline {base:.0f} s ({label}), ratio {base / wall:.1f}x; "
          f"the real bench needs {n_tasks * seconds:.0f} s")
    print(f"engine CPU time {cpu:.1f} s; load average during the run "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs slow the wall time)")
    print(f"median L/L0 {np.median(bench.error() / err0):.2e}; peak memory: arrays of the "
          f"campaign {arrays:.1f} MiB (tracemalloc), process peak RSS {_peak_mib():.0f} MiB "
          f"(after imports and compile: {rss0:.0f} MiB)")
    return wall, cpu


def per_task_physics(protocol_path: Path, average: int | None) -> tuple[float, float]:
    """(wall, CPU) time (s) of the protocol's tasks stepped one at a time on one simulated
    bench, in the DAQ's blocks: the twin's physics alone (``average`` None: the same
    ``TwinBench.advance`` calls a DAQ block makes, no measurement) or the simulated DAQ
    alone (blocks read and dropped: ``average`` 1, every noisy sample, as ``--raw`` reads
    them; ``average`` = samples per row, the record-interval means a run without the raw
    stream reads)."""
    from labctl.bench import open_bench
    protocol = load_protocol(protocol_path)
    bench = open_bench(protocol.bench, clock="fast", seed=7)
    daq, gates = bench.daq, bench.gates
    core = daq.core
    block_s = daq.block_size / daq.sample_rate
    n_coarse = max(1, round(block_s / core.params.dt))
    wall = cpu = 0.0
    for plan in compile_plan(protocol):
        prm = plan.params
        daq.begin_task(plan.index)
        nodes = [*prm["source_nodes"], *prm["target_nodes"]]
        names = ["source0", "source1", "target0", "target1"]
        daq.route_outputs(dict(zip(names, nodes)))
        daq.write_outputs(dict(zip(names, [*prm["source_voltages"],
                                           *prm["target_voltages"]])))
        gates.set_gates(np.full(protocol.bench.network.n_edges, prm["gate_voltage"]))
        gates.set_eta(prm["eta"])
        gates.set_lambda(prm["lambda"])
        daq.start_acquisition()
        gates.set_learning(True)
        n_blocks = round(prm["duration_s"] / block_s)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n_blocks):
            if average is not None:
                daq.read_block(average=average)
            else:
                core.twin.advance(block_s, n_coarse)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        gates.set_learning(False)
        daq.stop_acquisition()
    bench.close()
    return wall, cpu


def children_cpu() -> float:
    """CPU time (s, user + system) of this process's finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def labctl_run(protocol_path: Path, out: Path, *extra: str) -> tuple[float, float]:
    """Run ``labctl run`` in a subprocess; (run time from when the first task could start
    to the end, whole wall time with start-up) in s."""
    cmd = [sys.executable, "-m", "labctl.cli", "run", str(protocol_path), "-o", str(out),
           "--events", "jsonl", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    finished = [e for e in events if e["event"] == "finished"]
    if proc.returncode != 0 or not finished or finished[-1]["status"] != "completed":
        raise RuntimeError(f"labctl run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return finished[-1]["t"] - first_task_time(events), wall


def first_task_time(events: list[dict]) -> float:
    """When a run's first task could start (unix s): its first ``task_started`` event, or
    on Dask the message that the cluster is up and the tasks are submitted (a parallel
    run announces a task only when its result is written)."""
    return min(e["t"] for e in events if e["event"] == "task_started"
               or (e["event"] == "log" and str(e.get("text", "")).startswith("Dask:")))


def runner_vs_physics(n_tasks: int, seconds: float, batched: tuple[float, float]) -> None:
    """Print the serial ``labctl run`` time against the physics-alone baselines, as wall
    time and as CPU time (the fair figure on a loaded machine: every thread of the run
    counts, and other jobs do not)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "campaign.toml"
        path.write_text(campaign_protocol(n_tasks, seconds))
        warm = Path(d) / "warm.toml"  # fills numba's cache for the subprocesses
        warm.write_text(campaign_protocol(1, 0.5))
        labctl_run(warm, Path(d) / "warm0.h5")
        c0 = children_cpu()
        labctl_run(warm, Path(d) / "warm.h5")  # start-up CPU (imports, one short task)
        startup_cpu = children_cpu() - c0
        per_row = round(load_protocol(path).bench.sample_rate / RECORD_RATE)
        physics = per_task_physics(path, None)
        daq = per_task_physics(path, 1)
        means = per_task_physics(path, per_row)
        c0 = children_cpu()
        run_s, wall = labctl_run(path, Path(d) / "serial.h5")
        run_cpu = children_cpu() - c0 - startup_cpu
    print(f"runner vs physics, {n_tasks} tasks x {seconds:g} s, serially (issue 16.1), "
          "wall / CPU:")
    print(f"  physics alone, batched engine (above):             {batched[0]:7.1f} / "
          f"{batched[1]:6.1f} s")
    print(f"  physics alone, one task at a time (0.1 s blocks):  {physics[0]:7.1f} / "
          f"{physics[1]:6.1f} s")
    print(f"  simulated DAQ alone, every noisy sample (--raw):   {daq[0]:7.1f} / "
          f"{daq[1]:6.1f} s")
    print(f"  simulated DAQ alone, {per_row}-sample means (no --raw): {means[0]:6.1f} / "
          f"{means[1]:6.1f} s")
    print(f"  labctl run, serial, first task to end:             {run_s:7.1f} / "
          f"{run_cpu:6.1f} s (CPU less {startup_cpu:.1f} s of start-up; {wall:.1f} s wall "
          "with start-up)")
    for label, (w, c) in (("batched physics", batched), ("per-task physics", physics),
                          ("simulated DAQ, samples", daq),
                          ("simulated DAQ, means", means)):
        print(f"  labctl run / {label}: {run_s / w:.2f}x wall, {run_cpu / c:.2f}x CPU "
              "(goal <= 2x)")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def alternating(n_tasks: int, seconds: float, repeat: int) -> None:
    """The batched physics and the serial ``labctl run`` in turn: physics, run, physics,
    run, …, physics (``repeat`` runs). Each run's CPU time is divided by the mean of the
    two physics measurements on either side of it, so a machine whose speed drifts during
    the run hits the baseline alike; prints each run's ratio and the median."""
    import statistics

    net, params = periodic_lattice(4, 4), BenchParams()
    pairs = [random_allostery(net, s) for s in range(n_tasks)]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    lam = np.linspace(0.0, 0.055, n_tasks)

    def physics_cpu() -> float:
        c0 = time.process_time()
        _engine(net, params, sources, targets, lam, seconds)
        return time.process_time() - c0

    ratios = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "campaign.toml"
        path.write_text(campaign_protocol(n_tasks, seconds))
        warm = Path(d) / "warm.toml"
        warm.write_text(campaign_protocol(1, 0.5))
        labctl_run(warm, Path(d) / "warm0.h5")  # numba's cache
        _engine(net, params, sources[:1], targets[:1], lam[:1], 0.01)
        before = physics_cpu()
        for turn in range(repeat):
            c0 = children_cpu()  # start-up CPU (imports, one short task), just before
            labctl_run(warm, Path(d) / f"warm{turn + 1}.h5")
            startup_cpu = children_cpu() - c0
            c0 = children_cpu()
            labctl_run(path, Path(d) / f"serial{turn}.h5")
            run_cpu = children_cpu() - c0 - startup_cpu
            after = physics_cpu()
            ratios.append(run_cpu / (0.5 * (before + after)))
            print(f"  run {turn + 1}: labctl run {run_cpu:5.1f} s CPU (less {startup_cpu:.1f} s "
                  f"of start-up) between batched physics {before:5.1f} and {after:5.1f} s "
                  f"CPU: {ratios[-1]:.2f}x their mean")
            before = after
    print(f"labctl run / batched physics, {n_tasks} tasks x {seconds:g} s, median of "
          f"{repeat} runs: {statistics.median(ratios):.2f}x CPU (range {min(ratios):.2f}-"
          f"{max(ratios):.2f}; goal <= 2x); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    numbers = [float(a) if i else int(a) for i, a in enumerate(args)]
    repeats = [int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--repeat=")]
    if repeats:
        alternating(*(numbers + [150, 20.0][len(numbers):]), repeat=repeats[0])
        sys.exit(0)
    batched = main(*numbers, full_baseline="--full-baseline" in sys.argv)
    if "--no-runner" not in sys.argv:
        runner_vs_physics(*(numbers + [150, 20.0][len(numbers):]), batched=batched)
