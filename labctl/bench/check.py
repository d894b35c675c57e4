"""``labctl bench check [BENCH_FILE]``: open every instrument, self-test, leave the bench safe.

Self-test steps (each printed with its result):

1. identities and versions of the DAQ, gate controller and SMU;
2. gates to mid-range, read back, compared within :data:`GATE_TOLERANCE_V`;
3. a small source voltage (:data:`TEST_SOURCE_V`) on the source lines (the others at 0 V),
   node voltages of both copies (mean of one block) compared with the model's steady state
   for the read-back gates, within :data:`NODE_TOLERANCE_V`;
4. SMU current at the same voltage compared with the model's current out of its node, and
   the supply power it measures (V·I, W) beside the model's, with their residual;
5. safe state: every instrument closed safe.

Exit codes: 0 all passed, 2 bad bench file, 3 instrument error or failed self-test.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import numpy as np

from labctl.bench.config import BenchConfig, BenchFileError, load_bench
from labctl.bench.factory import open_bench
from labctl.bench.interfaces import Bench, BenchError
from labctl.units import format_si

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INSTRUMENT = 3
#: gate read-back must agree with the set value within this (V): firmware verify tolerance
GATE_TOLERANCE_V = 0.03
#: source voltage of the self-test (V)
TEST_SOURCE_V = 0.1
#: node voltages must agree with the model within this (V)
NODE_TOLERANCE_V = 0.01
#: SMU current must agree with the model within this fraction (transistor mismatch)
CURRENT_TOLERANCE = 0.25


class SelfTestError(BenchError):
    """A self-test step measured something outside its tolerance."""


def add_bench_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``labctl bench check``."""
    parser.add_argument("bench_file", nargs="?", default=None, metavar="BENCH_FILE",
                        help="bench file (default: the shipped simulated bench, sim.toml)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the simulated bench (ignored for hardware)")


def _model_state(cfg: BenchConfig, gates: np.ndarray, sources: dict[int, float]):
    """Nominal-model (no mismatch) steady state for the given gates (V) and sources (V)."""
    from labctl.physics.bench_model import BenchParams, TwinBench
    from labctl.physics.params import MosfetParams

    lim = cfg.limits
    mosfet = MosfetParams(S=float(np.mean(cfg.calibration.S)),
                          V_T=float(np.mean(cfg.calibration.V_T)),
                          gate_min=lim.gate_min, gate_max=lim.gate_max, node_min=0.0,
                          node_max=max(lim.source_voltage_max, lim.target_voltage_max))
    twin = TwinBench(cfg.network, BenchParams(mosfet=mosfet),
                     gates0=np.clip(gates, lim.gate_min, lim.gate_max))
    twin.set_sources(sources)
    v_free, _ = twin.advance(1e-9, 1)
    return twin, v_free[-1]


def self_test(bench: Bench, cfg: BenchConfig, out: TextIO) -> None:
    """Run steps 2–4 of the module docstring; raises BenchError/SelfTestError on failure."""
    gates = bench.gates
    mid = 0.5 * (gates.gate_range[0] + gates.gate_range[1])
    gates.set_gates(np.full(gates.n_edges, mid))
    readback = gates.read_gates()
    worst = float(np.max(np.abs(readback - mid)))
    print(f"  gates to {mid:.3f} V: read back {readback.min():.3f}..{readback.max():.3f} V "
          f"(worst {worst * 1e3:.1f} mV)", file=out)
    if worst > GATE_TOLERANCE_V:
        raise SelfTestError(f"gate read-back off by {worst * 1e3:.1f} mV "
                            f"(> {GATE_TOLERANCE_V * 1e3:.0f} mV)")

    daq = bench.daq
    source_lines = [ln for ln in daq.output_lines if ln.role == "source"]
    test_line = cfg.smu_line if bench.power is not None else source_lines[-1].name
    volts = {ln.name: 0.0 for ln in daq.output_lines}
    volts[test_line] = TEST_SOURCE_V
    daq.write_outputs(volts)
    if bench.power is not None:
        bench.power.set_voltage(TEST_SOURCE_V)
        bench.power.set_output(True)
    routing: dict[str, int | None] = {}
    for ln in daq.output_lines:  # sources on distinct nodes; switched target lines open
        if ln.role == "source":
            routing[ln.name] = next(n for n in ln.nodes if n not in routing.values())
        else:
            routing[ln.name] = ln.nodes[0] if len(ln.nodes) == 1 else None
    daq.route_outputs(routing)
    sources = {int(routing[ln.name]): volts[ln.name] for ln in source_lines}
    daq.start_acquisition()
    try:
        block = daq.read_block()
    finally:
        daq.stop_acquisition()
    measured = block.data.mean(axis=0)
    twin, model = _model_state(cfg, readback, sources)
    n = cfg.network.n_nodes
    cols = {name: j for j, name in enumerate(block.channels)}
    free = np.array([measured[cols[f"free:{k}"]] for k in range(n)])
    clamped = np.array([measured[cols[f"clamped:{k}"]] for k in range(n)])
    dev = max(float(np.max(np.abs(free - model))), float(np.max(np.abs(clamped - model))))
    print(f"  {test_line} at {TEST_SOURCE_V:g} V: node voltages {free.min():.4f}..{free.max():.4f}"
          f" V, worst deviation from the model {dev * 1e3:.2f} mV", file=out)
    if dev > NODE_TOLERANCE_V:
        raise SelfTestError(f"node voltages differ from the model by {dev * 1e3:.1f} mV "
                            f"(> {NODE_TOLERANCE_V * 1e3:.0f} mV): wiring or calibration?")

    if bench.power is not None:
        amps = bench.power.measure_current()
        node = int(routing[test_line])
        cur = twin.edge_currents(model, "free")
        edges = cfg.network.edges
        expected = 2.0 * float(cur[edges[:, 0] == node].sum() - cur[edges[:, 1] == node].sum())
        print(f"  SMU current {amps * 1e6:.2f} µA, model {expected * 1e6:.2f} µA "
              "(both copies)", file=out)
        measured_w, model_w = bench.power.voltage * amps, TEST_SOURCE_V * expected
        print(f"  supply power measured {format_si(measured_w, 'W')}, model "
              f"{format_si(model_w, 'W')}, residual {format_si(measured_w - model_w, 'W')}"
              f" ({(measured_w - model_w) / model_w:+.2%})" if model_w else
              f"  supply power measured {format_si(measured_w, 'W')}, model 0 W", file=out)
        if abs(amps - expected) > CURRENT_TOLERANCE * abs(expected) + 1e-7:
            raise SelfTestError(f"SMU current {amps:.3e} A differs from the model's "
                                f"{expected:.3e} A by more than {CURRENT_TOLERANCE:.0%}")


def run_check(bench_file: str | None, *, seed: int = 0, out: TextIO | None = None) -> int:
    """The whole check; returns the exit code (messages on ``out``, default stdout)."""
    out = sys.stdout if out is None else out
    try:
        cfg = load_bench(bench_file)
    except (BenchFileError, OSError) as exc:  # the message starts with the bench file
        for line in str(exc).splitlines():
            print(f"bench check: {line}", file=out)
        return EXIT_USAGE
    print(f"bench {cfg.name!r} ({cfg.backend}) from {cfg.path}", file=out)
    try:
        bench = open_bench(cfg, clock="fast", seed=seed)
    except (BenchError, OSError, ImportError) as exc:
        print(f"bench check: FAILED opening the instruments: {exc}", file=out)
        return EXIT_INSTRUMENT
    failure: str | None = None
    try:
        for label, inst in (("daq", bench.daq), ("gates", bench.gates), ("power", bench.power)):
            if inst is not None:
                print(f"  {label}: {inst.identity()}", file=out)
        self_test(bench, cfg, out)
    except (BenchError, ValueError, OSError) as exc:
        failure = str(exc)
    finally:
        problems = bench.close()
    if problems:
        print("bench check: could not leave the bench safe: " + "; ".join(problems), file=out)
        return EXIT_INSTRUMENT
    print("  bench left safe (sources 0 V, learning off, SMU output off)", file=out)
    if failure is not None:
        print(f"bench check: FAILED: {failure}", file=out)
        return EXIT_INSTRUMENT
    print("bench check: OK", file=out)
    return EXIT_OK


def cmd_bench_check(args: argparse.Namespace) -> int:
    """``labctl bench check`` entry point (exit code 0 / 2 / 3)."""
    return run_check(args.bench_file, seed=getattr(args, "seed", 0))
