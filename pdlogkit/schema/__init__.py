"""The gateway's protobuf messages, generated from specs/messages.proto (tools/gen_schema.py)."""

from .messages_pb2 import (
    ActiveCapacitance,
    CapacitanceMeasurement,
    DeviceInfo,
    DutyCycleUpdated,
    ElectrodeGroup,
    ElectrodeLayout,
    ElectrodeState,
    GroupCapacitance,
    HvRegulator,
    Image,
    ImageTransform,
    PurpleDropEvent,
    ScanCapacitance,
    Settings,
    TemperatureControl,
    Timestamp,
)

__all__ = [
    "ActiveCapacitance",
    "CapacitanceMeasurement",
    "DeviceInfo",
    "DutyCycleUpdated",
    "ElectrodeGroup",
    "ElectrodeLayout",
    "ElectrodeState",
    "GroupCapacitance",
    "HvRegulator",
    "Image",
    "ImageTransform",
    "PurpleDropEvent",
    "ScanCapacitance",
    "Settings",
    "TemperatureControl",
    "Timestamp",
]
