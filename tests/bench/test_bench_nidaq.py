"""NI-DAQmx driver against autospec mocks of the real nidaqmx classes (+ a real-device test)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import nidaqmx
import nidaqmx.constants
import nidaqmx.errors
import nidaqmx.stream_readers
import nidaqmx.stream_writers
import numpy as np
import pytest
from labctl.drivers.nidaq import NidaqDaq
from nidaqmx.task import Timing
from nidaqmx.task.collections import AIChannelCollection, AOChannelCollection

from labctl.bench.config import load_bench
from labctl.bench.interfaces import (
    DaqOverflowError,
    ForeignThreadError,
    InstrumentDisconnectedError,
    InstrumentFaultError,
    InstrumentTimeoutError,
)

REAL_TASK = nidaqmx.Task
REAL_READER = nidaqmx.stream_readers.AnalogMultiChannelReader
REAL_WRITER = nidaqmx.stream_writers.AnalogMultiChannelWriter
LAB1 = load_bench(__import__("pathlib").Path(__file__).resolve().parents[2]
                  / "labctl" / "resources" / "benches" / "lab1.toml")


class FakeNi:
    """Autospecced nidaqmx Task / reader / writer classes; records every task made."""

    def __init__(self) -> None:
        self.tasks: list[mock.NonCallableMagicMock] = []
        self.readers: list[mock.NonCallableMagicMock] = []
        self.writers: list[mock.NonCallableMagicMock] = []
        self.task_cls = mock.create_autospec(REAL_TASK, side_effect=self._task)
        self.reader_cls = mock.create_autospec(REAL_READER,
                                               side_effect=self._reader)
        self.writer_cls = mock.create_autospec(REAL_WRITER,
                                               side_effect=self._writer)
        self.block_value = 0.25

    def _task(self, *args, **kwargs):
        task = mock.create_autospec(REAL_TASK, instance=True)
        task.ai_channels = mock.create_autospec(AIChannelCollection, instance=True)
        task.ao_channels = mock.create_autospec(AOChannelCollection, instance=True)
        task.timing = mock.create_autospec(Timing, instance=True)
        self.tasks.append(task)
        return task

    def _reader(self, stream):
        reader = mock.create_autospec(REAL_READER,
                                      instance=True)

        def fill(data, number_of_samples_per_channel=-1, timeout=10.0):
            data[:, :number_of_samples_per_channel] = self.block_value + np.arange(
                data.shape[0])[:, None] * 1e-3
            return number_of_samples_per_channel

        reader.read_many_sample.side_effect = fill
        self.readers.append(reader)
        return reader

    def _writer(self, stream, *args, **kwargs):
        writer = mock.create_autospec(REAL_WRITER,
                                      instance=True)
        self.writers.append(writer)
        return writer


@pytest.fixture
def ni():
    fake = FakeNi()
    with patched_nidaqmx(fake):
        yield fake


@contextlib.contextmanager
def patched_nidaqmx(fake: FakeNi) -> Iterator[FakeNi]:
    """nidaqmx's Task, reader and writer classes replaced by ``fake``'s autospecs."""
    with mock.patch.object(nidaqmx, "Task", fake.task_cls), \
            mock.patch.object(nidaqmx.stream_readers, "AnalogMultiChannelReader",
                              fake.reader_cls), \
            mock.patch.object(nidaqmx.stream_writers, "AnalogMultiChannelWriter",
                              fake.writer_cls):
        yield fake


def test_channels_created_with_ranges_and_terminal_config(ni: FakeNi):
    daq = NidaqDaq(LAB1)
    ao_task, ai_task = ni.tasks
    assert ao_task.ao_channels.add_ao_voltage_chan.call_count == 4
    assert ao_task.ao_channels.add_ao_voltage_chan.call_args_list[0] == mock.call(
        "Dev1/ao0", name_to_assign_to_channel="source0", min_val=-1.0, max_val=1.0)
    calls = ai_task.ai_channels.add_ai_voltage_chan.call_args_list
    assert len(calls) == 32
    assert calls[17] == mock.call(
        "Dev1/ai17", name_to_assign_to_channel="clamped_1",
        terminal_config=nidaqmx.constants.TerminalConfiguration.RSE, min_val=-1.0, max_val=1.0)
    # outputs start at 0 V
    np.testing.assert_array_equal(ni.writers[0].write_one_sample.call_args.args[0], np.zeros(4))
    daq.close()


def test_continuous_acquisition_reads_preallocated_blocks(ni: FakeNi):
    daq = NidaqDaq(LAB1)
    daq.start_acquisition()
    ai_task = ni.tasks[1]
    ai_task.timing.cfg_samp_clk_timing.assert_called_once_with(
        10000.0, sample_mode=nidaqmx.constants.AcquisitionType.CONTINUOUS, samps_per_chan=20000)
    ai_task.start.assert_called_once_with()
    b1 = daq.read_block(timeout=1.0)
    b2 = daq.read_block()
    assert b1.data.shape == (1000, 32) and b1.channels[0] == "free:0"
    assert b1.data[0, 3] == pytest.approx(0.253)
    assert (b1.first_index, b2.first_index) == (0, 1000)
    assert b2.time[0] == pytest.approx(0.1)
    reader = ni.readers[0]
    buffers = {id(c.args[0]) for c in reader.read_many_sample.call_args_list}
    assert len(buffers) == 1  # one preallocated buffer, reused
    assert reader.read_many_sample.call_args.kwargs["number_of_samples_per_channel"] == 1000
    assert b1.data is not b2.data and b1.data[0, 0] == pytest.approx(0.25)
    np.testing.assert_allclose(daq.read_once(), b2.data[-1])
    daq.stop_acquisition()
    ai_task.stop.assert_called_once_with()
    ai_task.close.assert_called_once_with()
    daq.close()


def _overflow() -> nidaqmx.errors.DaqReadError:
    return nidaqmx.errors.DaqReadError(
        "Attempted to read samples that are no longer available", -200279, samps_per_chan_read=0)


def _failing_first(fill, *errors):
    """A read_many_sample side effect raising ``errors`` one by one, then filling."""
    queue = list(errors)

    def read(*args, **kwargs):
        if queue:
            raise queue.pop(0)
        return fill(*args, **kwargs)

    return read


def test_overflow_restarts_the_task_and_records_the_gap(ni: FakeNi, monkeypatch):
    """-200279: the AI task is replaced and started again; the lost samples are a gap in
    first_index, counted from the time that passed since the first start."""
    import labctl.drivers.nidaq as nidaq_mod

    clock = iter([100.0, 100.5])  # first start, restart: 0.5 s = 5000 samples since sample 0
    monkeypatch.setattr(nidaq_mod.time, "monotonic", lambda: next(clock))
    daq = NidaqDaq(LAB1)
    daq.start_acquisition()
    assert daq.read_block().first_index == 0
    fill = ni.readers[0].read_many_sample.side_effect
    ni.readers[0].read_many_sample.side_effect = _failing_first(fill, _overflow())
    block = daq.read_block()
    assert block.first_index == 5000 and block.time[0] == pytest.approx(0.5)
    assert len(ni.tasks) == 3 and ni.tasks[1].stop.called and ni.tasks[1].close.called
    ni.tasks[2].start.assert_called_once_with()  # a fresh AI task replaced the overflowed one
    assert daq.read_block().first_index == 6000
    records = daq.fault_log.drain()
    assert [(r.event, r.instrument, r.kind) for r in records] == [
        ("fault", "DAQ", "overflow"), ("recovered", "DAQ", "overflow")]
    assert "overflow" in records[0].message
    assert "samples 1000..4999 lost (0.4 s)" in records[1].message
    daq.close()


def test_timeouts_are_waited_for_again_and_persistent_faults_give_up(ni: FakeNi):
    daq = NidaqDaq(LAB1)
    daq.start_acquisition()
    fill = ni.readers[0].read_many_sample.side_effect
    late = nidaqmx.errors.DaqError("late", -200284)
    ni.readers[0].read_many_sample.side_effect = _failing_first(fill, late)
    assert daq.read_block().first_index == 0
    assert [r.event for r in daq.fault_log.drain()] == ["fault", "recovered"]
    ni.readers[0].read_many_sample.side_effect = late
    with pytest.raises(InstrumentFaultError, match=r"DAQ: reading a block failed after 3 "
                                                   r"attempts \(timeout: NI-DAQmx"):
        daq.read_block()
    daq.close()


def test_overflow_still_maps_to_daq_overflow_error():
    from labctl.drivers.nidaq import translate_daq_error

    assert isinstance(translate_daq_error(_overflow(), "reading"), DaqOverflowError)
    assert isinstance(translate_daq_error(nidaqmx.errors.DaqError("late", -200284), "x"),
                      InstrumentTimeoutError)


def test_device_error_on_open_closes_tasks(ni: FakeNi):
    def broken(*args, **kwargs):
        raise nidaqmx.errors.DaqError("Device identifier is invalid.", -200220)

    ni.task_cls.side_effect = None
    task = ni._task()
    task.ao_channels.add_ao_voltage_chan.side_effect = broken
    ni.task_cls.return_value = task
    with pytest.raises(InstrumentDisconnectedError, match="device not available"):
        NidaqDaq(LAB1)
    task.close.assert_called_once_with()


def test_outputs_limits_routing_and_safe_close(ni: FakeNi):
    daq = NidaqDaq(LAB1)
    daq.write_outputs({"source1": 0.45, "target0": 0.09})
    np.testing.assert_allclose(ni.writers[0].write_one_sample.call_args.args[0],
                               [0.0, 0.45, 0.09, 0.0])
    with pytest.raises(ValueError, match=r"volts\['source0'\]: 0.7 V; allowed 0\.\.0\.5 V"):
        daq.write_outputs({"source0": 0.7})
    with pytest.raises(ValueError, match="unknown line 'src'"):
        daq.write_outputs({"src": 0.1})
    daq.route_outputs({"source0": 0})
    with pytest.raises(ValueError, match="cannot reach node 3; allowed \\[0\\]"):
        daq.route_outputs({"source0": 3})
    daq.start_acquisition()
    daq.read_block()
    daq.close()
    np.testing.assert_array_equal(ni.writers[0].write_one_sample.call_args.args[0], np.zeros(4))
    for task in ni.tasks:
        task.close.assert_called_once_with()
    daq.close()  # idempotent
    with pytest.raises(InstrumentDisconnectedError):
        daq.read_once()


def test_wrong_thread_is_refused(ni: FakeNi):
    import threading

    daq = NidaqDaq(LAB1)
    seen: list[BaseException] = []

    def other() -> None:
        try:
            daq.read_once()
        except ForeignThreadError as exc:
            seen.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen and "owning thread" in str(seen[0])
    daq.close()


def test_real_device_or_skip():
    try:
        daq = NidaqDaq(LAB1)
    except InstrumentDisconnectedError as exc:
        if isinstance(exc.__cause__, nidaqmx.errors.DaqNotFoundError):
            pytest.skip("no NI-DAQmx driver/device on this machine")
        raise
    except nidaqmx.errors.DaqNotFoundError:
        pytest.skip("no NI-DAQmx driver/device on this machine")
    try:
        daq.start_acquisition()
        block = daq.read_block()
        assert block.data.shape == (LAB1.block_size, 32)
    finally:
        daq.close()


def test_averaged_blocks_are_means_of_the_samples_read(ni: FakeNi):
    """The interface averages a driver's samples: read_block(average=k) reads the same
    1000 samples per channel and returns their k-sample means."""
    daq = NidaqDaq(LAB1)
    daq.start_acquisition()
    raw = daq.read_block()
    blk = daq.read_block(average=250)
    assert blk.data.shape == (4, 32) and blk.average == 250 and blk.n_samples == 1000
    assert blk.first_index == 1000
    np.testing.assert_allclose(blk.data, raw.data.reshape(4, 250, 32).mean(axis=1))
    assert blk.time[0] == pytest.approx(raw.time[:250].mean() + 0.1)
    assert ni.readers[0].read_many_sample.call_args.kwargs[
        "number_of_samples_per_channel"] == 1000
    with pytest.raises(ValueError, match="average: 7; allowed a divisor"):
        daq.read_block(average=7)
    daq.close()
