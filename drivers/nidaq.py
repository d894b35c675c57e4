"""NI-DAQmx board: analog outputs (sources, target set-points), analog inputs (node voltages).

Uses the real ``nidaqmx`` API (1.x):

* one AI task with one voltage channel per bench-file channel (range and terminal
  configuration from the file), continuous sample-clock timing, read through
  ``AnalogMultiChannelReader.read_many_sample`` into a preallocated (C, n) float64 buffer of
  ``block_duration`` (about 0.1 s, NI's advice against overflow);
* one on-demand AO task with every output line, written with
  ``AnalogMultiChannelWriter.write_one_sample``;
* DAQmx errors become labctl bench errors: -200279 (input buffer overflow) →
  :class:`DaqOverflowError`, -200284 (samples not yet acquired) →
  :class:`InstrumentTimeoutError`, device missing → :class:`InstrumentDisconnectedError`,
  anything else → :class:`BenchError` with NI's message.
* an overflow is recovered by the interface's shared retry loop
  (:meth:`labctl.bench.interfaces.Daq.read_block`): the AI task is replaced and started
  again, and sample indices go on from the original start by the time that passed (the
  lost samples are a gap in ``first_index``, counted from the monotonic clock; accurate to
  the restart latency, a few ms).

Every task is closed on :meth:`NidaqDaq.close` (outputs to 0 V first), also after errors.

Argument checks, the bench's output limits and the owner-thread rule are the interface's
(:class:`labctl.bench.interfaces.Daq`): this module only moves samples through NI-DAQmx.
NI's own syntax (device names, ``ai<k>``/``ao<k>`` physical channels) is checked here, by
:meth:`NidaqDaq.check_config`, when a bench file names this driver
(``[daq] driver = "labctl.drivers.nidaq:NidaqDaq"``, the hardware default).

Threading: the instance belongs to the thread that created it (the acquisition thread of
the run engine, or a notebook's thread: ``with NidaqDaq(config) as daq: ...``); calls from
any other thread raise :class:`~labctl.bench.interfaces.ForeignThreadError`. Other threads
send requests to the owner (the run engine queues operator commands in
:class:`labctl.runner.control.RunControl`) instead of sharing the tasks.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from labctl.bench.config import BenchConfig
from labctl.bench.interfaces import (
    BenchError,
    Daq,
    DaqOverflowError,
    InstrumentDisconnectedError,
    InstrumentTimeoutError,
    SampleBlock,
)

#: DAQmx error codes translated to labctl errors
ERR_OVERFLOW = -200279
ERR_SAMPLES_NOT_AVAILABLE = -200284
ERR_DEVICE_GONE = (-88705, -201003, -200220, -88709)
#: seconds of samples the driver buffer holds (board side)
BUFFER_SECONDS = 2.0
#: NI's spelling of a device and of physical analog channels (checked by check_config)
_DEVICE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_AI_RE = re.compile(r"ai\d{1,3}")
#: NI-DAQmx analog-input terminal configurations (nidaqmx.constants.TerminalConfiguration)
TERMINAL_CONFIGS = ("DEFAULT", "RSE", "NRSE", "DIFF", "PSEUDO_DIFF")
_AO_RE = re.compile(r"ao\d{1,2}")


def _nidaqmx() -> Any:
    import nidaqmx
    import nidaqmx.constants
    import nidaqmx.errors
    import nidaqmx.stream_readers
    import nidaqmx.stream_writers

    return nidaqmx


def translate_daq_error(exc: BaseException, what: str) -> BenchError:
    """Turn a ``nidaqmx.errors.DaqError`` raised while doing ``what`` into a labctl error."""
    code = getattr(exc, "error_code", None)
    if code == ERR_OVERFLOW:
        return DaqOverflowError(f"NI-DAQmx {what}: input buffer overflow, samples were lost "
                                f"(error {code}); read more often or lower the sample rate")
    if code == ERR_SAMPLES_NOT_AVAILABLE:
        return InstrumentTimeoutError(f"NI-DAQmx {what}: samples not acquired in time "
                                      f"(error {code}); is the sample clock running?")
    if code in ERR_DEVICE_GONE or type(exc).__name__ == "DaqNotFoundError":
        return InstrumentDisconnectedError(f"NI-DAQmx {what}: device not available ({exc})")
    return BenchError(f"NI-DAQmx {what} failed (error {code}): {exc}")


class NidaqDaq(Daq):
    """An NI multifunction board wired as described by a bench file (``config``)."""

    def __init__(self, config: BenchConfig) -> None:
        self._nidaqmx = nx = _nidaqmx()
        self.config = config
        self.channels = config.channel_names
        self.output_lines = config.output_lines
        self.sample_rate = config.sample_rate
        self.output_max = {"source": config.limits.source_voltage_max,
                           "target": config.limits.target_voltage_max}
        self.block_size = config.block_size
        self._buffer = np.zeros((len(self.channels), self.block_size))
        self._ai_task: Any = None
        self._ao_task: Any = None
        self._reader: Any = None
        self._writer: Any = None
        self._running = False
        self._next_index = 0
        self._t_start = 0.0  # monotonic time (s) of sample 0 of the acquisition
        self._last_row: np.ndarray | None = None
        self._ao_values = {ao.line.name: 0.0 for ao in config.ao_channels}
        self._routing = {line.name: line.nodes[0] for line in self.output_lines}
        try:
            self._ao_task = nx.Task()
            for ao in config.ao_channels:
                self._ao_task.ao_channels.add_ao_voltage_chan(
                    ao.physical, name_to_assign_to_channel=ao.line.name,
                    min_val=ao.range[0], max_val=ao.range[1])
            self._writer = nx.stream_writers.AnalogMultiChannelWriter(self._ao_task.out_stream)
            self._write_all()
            self._ai_task = self._make_ai_task()
        except nx.errors.DaqError as exc:
            self._close_tasks()
            raise translate_daq_error(exc, "opening the board") from exc

    # -- plug-in -------------------------------------------------------------------------
    config_role = "daq"

    @classmethod
    def check_config(cls, options: Mapping[str, Any], config: Any) -> list[tuple[str, str]]:
        """NI syntax of a bench file's [daq] wiring: a device name such as "Dev1",
        physical channels ``ai<k>`` / ``ao<k>`` and NI terminal configurations; returns
        (key, problem) pairs."""
        problems: list[tuple[str, str]] = []
        if not _DEVICE_RE.fullmatch(config.device):
            problems.append(("daq.device", f"{config.device!r}; allowed an NI device name "
                                           'such as "Dev1"'))
        for ch in config.ai_channels:
            if not _AI_RE.fullmatch(ch.physical.split("/", 1)[-1]):
                problems.append((f"daq.ai.{ch.copy}.{ch.node}.channel",
                                 f"{ch.physical!r} is not an analog input of an NI board; "
                                 'allowed "ai<k>"'))
        allowed = ", ".join(repr(t) for t in TERMINAL_CONFIGS)
        default = getattr(config, "terminal_config", None)
        if default is not None and default not in TERMINAL_CONFIGS:
            problems.append(("daq.terminal_config", f"{default!r} is not an NI terminal "
                                                    f"configuration; allowed {allowed}"))
        for ch in config.ai_channels:
            if ch.terminal != default and ch.terminal not in TERMINAL_CONFIGS:
                problems.append((f"daq.ai.{ch.copy}.{ch.node}.terminal",
                                 f"{ch.terminal!r} is not an NI terminal configuration; "
                                 f"allowed {allowed}"))
        for i, ao in enumerate(config.ao_channels):
            if not _AO_RE.fullmatch(ao.physical.split("/", 1)[-1]):
                problems.append((f"daq.ao[{i}].channel", f"{ao.physical!r} is not an analog "
                                                          'output of an NI board; allowed "ao<k>"'))
        return problems

    @classmethod
    def from_config(cls, context: Any, options: Mapping[str, Any]) -> NidaqDaq:
        """Open the board a bench file describes (its [daq] wiring)."""
        return cls(context.config)

    # -- helpers -----------------------------------------------------------------------

    def _make_ai_task(self) -> Any:
        nx = self._nidaqmx
        task = nx.Task()
        try:
            for ch in self.config.ai_channels:
                task.ai_channels.add_ai_voltage_chan(
                    ch.physical, name_to_assign_to_channel=ch.name.replace(":", "_"),
                    terminal_config=nx.constants.TerminalConfiguration[ch.terminal],
                    min_val=ch.range[0], max_val=ch.range[1])
        except BaseException:
            task.close()
            raise
        return task

    def _write_all(self) -> None:
        data = np.array([self._ao_values[ao.line.name] for ao in self.config.ao_channels])
        self._writer.write_one_sample(data, timeout=2.0)

    def _close_tasks(self) -> None:
        for task in (self._ai_task, self._ao_task):
            if task is not None:
                with contextlib.suppress(Exception):  # go on closing the other task
                    task.close()
        self._ai_task = self._ao_task = None

    # -- Instrument ----------------------------------------------------------------------
    def _identity_line(self) -> str:
        """Board product type and serial number, plus the nidaqmx version."""
        nx = self._nidaqmx
        try:
            dev = nx.system.Device(self.config.device)
            return (f"National Instruments {dev.product_type} serial {dev.serial_num:X} "
                    f"(device {self.config.device}, nidaqmx {nx.__version__})")
        except (nx.errors.DaqError, AttributeError) as exc:
            return f"NI-DAQmx device {self.config.device} (identity unavailable: {exc})"

    def _snapshot(self) -> dict[str, Any]:
        """Wiring, ranges, sample rate (S/s), AO values (V) and routing."""
        return {
            "device": self.config.device,
            "sample_rate": self.sample_rate,
            "block_size": self.block_size,
            "ai": [{"name": c.name, "physical": c.physical, "range": list(c.range),
                    "terminal": c.terminal} for c in self.config.ai_channels],
            "ao": [{"name": a.line.name, "physical": a.physical, "role": a.line.role,
                    "range": list(a.range)} for a in self.config.ao_channels],
            "ao_values": dict(self._ao_values),
            "routing": dict(self._routing),
        }

    def _safe_state(self) -> None:
        """All outputs to 0 V."""
        for name in self._ao_values:
            self._ao_values[name] = 0.0
        try:
            self._write_all()
        except self._nidaqmx.errors.DaqError as exc:
            raise translate_daq_error(exc, "writing 0 V to the outputs") from exc

    def _close(self) -> None:
        """Stop acquisition, outputs to 0 V, close every task."""
        errors: list[str] = []
        for step in (self._stop_acquisition, self._safe_state):
            try:
                step()
            except BenchError as exc:  # go on: the tasks must be closed in any case
                errors.append(str(exc))
        self._close_tasks()
        if errors:
            raise BenchError("; ".join(errors))

    # -- Daq -----------------------------------------------------------------------------
    def _route_outputs(self, routing: dict[str, int | None]) -> None:
        """Fixed wiring: each line is routed to a node it reaches (checked by the
        interface); unused lines cannot be opened and are held at 0 V."""
        unused = [k for k, v in routing.items() if v is None]
        if unused:  # fixed wires cannot be opened: hold the unused lines at 0 V
            self._write_outputs(dict.fromkeys(unused, 0.0))
        self._routing.update({k: int(v) for k, v in routing.items() if v is not None})

    def _write_outputs(self, volts: dict[str, float]) -> None:
        """Set output lines (V, checked against the bench's limits by the interface)."""
        self._ao_values.update(volts)
        try:
            self._write_all()
        except self._nidaqmx.errors.DaqError as exc:
            raise translate_daq_error(exc, "writing the outputs") from exc

    def _start_acquisition(self) -> None:
        """Continuous sample-clock acquisition at ``sample_rate`` S/s per channel."""
        if self._running:
            return
        nx = self._nidaqmx
        try:
            self._ai_task.timing.cfg_samp_clk_timing(
                self.sample_rate, sample_mode=nx.constants.AcquisitionType.CONTINUOUS,
                samps_per_chan=max(self.block_size * 2, int(BUFFER_SECONDS * self.sample_rate)))
            self._reader = nx.stream_readers.AnalogMultiChannelReader(self._ai_task.in_stream)
            self._ai_task.start()
        except nx.errors.DaqError as exc:
            raise translate_daq_error(exc, "starting acquisition") from exc
        self._running = True
        self._next_index = 0
        self._t_start = time.monotonic()

    def _restart_acquisition(self) -> tuple[int, int]:
        """Replace the overflowed AI task by a fresh one and start it again; the sample
        index goes on from the first start by the (monotonic) time that passed."""
        first, t_start = self._next_index, self._t_start
        with contextlib.suppress(BenchError):  # the old task is discarded in any case
            self._stop_acquisition()
        self._start_acquisition()
        lost = max(0, round((self._t_start - t_start) * self.sample_rate) - first)
        self._next_index, self._t_start = first + lost, t_start
        return first, lost

    def _read_block(self, timeout: float) -> SampleBlock:
        """The next ``block_duration`` of samples, volts, shape (n, C) (one attempt)."""
        if not self._running:
            raise BenchError("NI-DAQmx: read_block before start_acquisition")
        nx = self._nidaqmx
        try:
            n = self._reader.read_many_sample(
                self._buffer, number_of_samples_per_channel=self.block_size, timeout=timeout)
        except nx.errors.DaqError as exc:
            raise translate_daq_error(exc, "reading a block") from exc
        n = int(n)
        data = self._buffer[:, :n].T.copy()
        first = self._next_index
        self._next_index += n
        t = (first + np.arange(n)) / self.sample_rate
        if n:
            self._last_row = data[-1].copy()
        return SampleBlock(time=t, data=data, channels=self.channels, first_index=first)

    def _stop_acquisition(self) -> None:
        """Stop the AI task (no error if not running)."""
        if not self._running:
            return
        self._running = False
        old, self._ai_task = self._ai_task, None
        try:
            old.stop()
        except self._nidaqmx.errors.DaqError as exc:
            raise translate_daq_error(exc, "stopping acquisition") from exc
        finally:
            # a fresh, untimed task for on-demand reads and the next start
            old.close()
            self._ai_task = self._make_ai_task()

    def _read_once(self) -> np.ndarray:
        """One on-demand reading of every channel (V, shape (C,)).

        While acquiring, returns the last sample of the last block read (the channels are
        reserved by the running task).
        """
        if self._running:
            if self._last_row is None:
                raise BenchError("NI-DAQmx: read_once while acquiring needs one block read")
            return self._last_row.copy()
        nx = self._nidaqmx
        try:
            reader = nx.stream_readers.AnalogMultiChannelReader(self._ai_task.in_stream)
            out = np.zeros(len(self.channels))
            reader.read_one_sample(out, timeout=2.0)
        except nx.errors.DaqError as exc:
            raise translate_daq_error(exc, "reading once") from exc
        return out
