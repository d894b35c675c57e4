"""Protocol files: parsing, validation and compilation into plans.

``load_protocol(path, bench=None)`` reads and validates a TOML protocol (raising
:class:`ProtocolError`); ``load_protocol_text(text, source_name=...)`` and
``load_protocol_dict(d, ...)`` validate the same way without a file;
``compile_plan(protocol)`` expands it into :class:`TaskPlan` s,
``validate_files(paths)`` collects problems for ``labctl validate``. The file format is
documented in ``docs/PROTOCOLS.md``.
"""

from labctl.protocol.errors import ProtocolError
from labctl.protocol.loader import load_protocol, load_protocol_dict, load_protocol_text
from labctl.protocol.model import FAULT_POLICIES, FaultPolicy, Protocol
from labctl.protocol.plan import (
    ConfigureSim,
    ControlLambda,
    Learn,
    Measure,
    RouteOutputs,
    SafeState,
    SetEta,
    SetGates,
    SetLambda,
    SetOutputs,
    StepwiseTrain,
    TaskPlan,
    TrainOnDataset,
    compile_plan,
)
from labctl.protocol.validate_cmd import add_validate_arguments, cmd_validate, validate_files

__all__ = [
    "FAULT_POLICIES",
    "ConfigureSim",
    "ControlLambda",
    "FaultPolicy",
    "Learn",
    "Measure",
    "Protocol",
    "ProtocolError",
    "RouteOutputs",
    "SafeState",
    "SetEta",
    "SetGates",
    "SetLambda",
    "SetOutputs",
    "StepwiseTrain",
    "TaskPlan",
    "TrainOnDataset",
    "add_validate_arguments",
    "cmd_validate",
    "compile_plan",
    "load_protocol",
    "load_protocol_dict",
    "load_protocol_text",
    "validate_files",
]
