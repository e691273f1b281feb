from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Timestamp(_message.Message):
    __slots__ = ("seconds", "nanos")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    NANOS_FIELD_NUMBER: _ClassVar[int]
    seconds: int
    nanos: int
    def __init__(self, seconds: _Optional[int] = ..., nanos: _Optional[int] = ...) -> None: ...

class ElectrodeLayout(_message.Message):
    __slots__ = ("timestamp", "layout")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    layout: str
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., layout: _Optional[str] = ...) -> None: ...

class ElectrodeGroup(_message.Message):
    __slots__ = ("electrodes", "setting")
    ELECTRODES_FIELD_NUMBER: _ClassVar[int]
    SETTING_FIELD_NUMBER: _ClassVar[int]
    electrodes: _containers.RepeatedScalarFieldContainer[bool]
    setting: int
    def __init__(self, electrodes: _Optional[_Iterable[bool]] = ..., setting: _Optional[int] = ...) -> None: ...

class ElectrodeState(_message.Message):
    __slots__ = ("timestamp", "electrodes", "drive_groups", "scan_groups")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ELECTRODES_FIELD_NUMBER: _ClassVar[int]
    DRIVE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    SCAN_GROUPS_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    electrodes: _containers.RepeatedScalarFieldContainer[bool]
    drive_groups: _containers.RepeatedCompositeFieldContainer[ElectrodeGroup]
    scan_groups: _containers.RepeatedCompositeFieldContainer[ElectrodeGroup]
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., electrodes: _Optional[_Iterable[bool]] = ..., drive_groups: _Optional[_Iterable[_Union[ElectrodeGroup, _Mapping]]] = ..., scan_groups: _Optional[_Iterable[_Union[ElectrodeGroup, _Mapping]]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("timestamp", "image_data")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    IMAGE_DATA_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    image_data: bytes
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., image_data: _Optional[bytes] = ...) -> None: ...

class ImageTransform(_message.Message):
    __slots__ = ("timestamp", "transform", "qr_codes", "image_width", "image_height")
    class Point(_message.Message):
        __slots__ = ("x", "y")
        X_FIELD_NUMBER: _ClassVar[int]
        Y_FIELD_NUMBER: _ClassVar[int]
        x: int
        y: int
        def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...
    class QrCodeLocation(_message.Message):
        __slots__ = ("corners",)
        CORNERS_FIELD_NUMBER: _ClassVar[int]
        corners: _containers.RepeatedCompositeFieldContainer[ImageTransform.Point]
        def __init__(self, corners: _Optional[_Iterable[_Union[ImageTransform.Point, _Mapping]]] = ...) -> None: ...
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    QR_CODES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    transform: _containers.RepeatedScalarFieldContainer[float]
    qr_codes: _containers.RepeatedCompositeFieldContainer[ImageTransform.QrCodeLocation]
    image_width: int
    image_height: int
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., transform: _Optional[_Iterable[float]] = ..., qr_codes: _Optional[_Iterable[_Union[ImageTransform.QrCodeLocation, _Mapping]]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ...) -> None: ...

class Settings(_message.Message):
    __slots__ = ("timestamp", "frequency")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    frequency: float
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., frequency: _Optional[float] = ...) -> None: ...

class CapacitanceMeasurement(_message.Message):
    __slots__ = ("capacitance", "drop_present", "raw")
    CAPACITANCE_FIELD_NUMBER: _ClassVar[int]
    DROP_PRESENT_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    capacitance: float
    drop_present: bool
    raw: float
    def __init__(self, capacitance: _Optional[float] = ..., drop_present: bool = ..., raw: _Optional[float] = ...) -> None: ...

class ScanCapacitance(_message.Message):
    __slots__ = ("timestamp", "measurements")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    measurements: _containers.RepeatedCompositeFieldContainer[CapacitanceMeasurement]
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., measurements: _Optional[_Iterable[_Union[CapacitanceMeasurement, _Mapping]]] = ...) -> None: ...

class ActiveCapacitance(_message.Message):
    __slots__ = ("timestamp", "baseline", "measurement", "calibrated")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    baseline: float
    measurement: float
    calibrated: float
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., baseline: _Optional[float] = ..., measurement: _Optional[float] = ..., calibrated: _Optional[float] = ...) -> None: ...

class HvRegulator(_message.Message):
    __slots__ = ("voltage", "v_target_out", "timestamp")
    VOLTAGE_FIELD_NUMBER: _ClassVar[int]
    V_TARGET_OUT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    voltage: float
    v_target_out: float
    timestamp: Timestamp
    def __init__(self, voltage: _Optional[float] = ..., v_target_out: _Optional[float] = ..., timestamp: _Optional[_Union[Timestamp, _Mapping]] = ...) -> None: ...

class TemperatureControl(_message.Message):
    __slots__ = ("temperatures", "duty_cycles", "timestamp")
    TEMPERATURES_FIELD_NUMBER: _ClassVar[int]
    DUTY_CYCLES_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    temperatures: _containers.RepeatedScalarFieldContainer[float]
    duty_cycles: _containers.RepeatedScalarFieldContainer[float]
    timestamp: Timestamp
    def __init__(self, temperatures: _Optional[_Iterable[float]] = ..., duty_cycles: _Optional[_Iterable[float]] = ..., timestamp: _Optional[_Union[Timestamp, _Mapping]] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("connected", "serial_number", "software_version")
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    connected: bool
    serial_number: str
    software_version: str
    def __init__(self, connected: bool = ..., serial_number: _Optional[str] = ..., software_version: _Optional[str] = ...) -> None: ...

class GroupCapacitance(_message.Message):
    __slots__ = ("timestamp", "measurements", "raw_measurements")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    RAW_MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    measurements: _containers.RepeatedScalarFieldContainer[float]
    raw_measurements: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., measurements: _Optional[_Iterable[float]] = ..., raw_measurements: _Optional[_Iterable[float]] = ...) -> None: ...

class DutyCycleUpdated(_message.Message):
    __slots__ = ("timestamp", "duty_cycles")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DUTY_CYCLES_FIELD_NUMBER: _ClassVar[int]
    timestamp: Timestamp
    duty_cycles: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., duty_cycles: _Optional[_Iterable[int]] = ...) -> None: ...

class PurpleDropEvent(_message.Message):
    __slots__ = ("electrode_layout", "electrode_state", "image", "image_transform", "settings", "scan_capacitance", "active_capacitance", "hv_regulator", "temperature_control", "device_info", "group_capacitance", "duty_cycle_updated")
    ELECTRODE_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    ELECTRODE_STATE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SCAN_CAPACITANCE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CAPACITANCE_FIELD_NUMBER: _ClassVar[int]
    HV_REGULATOR_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_CONTROL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    GROUP_CAPACITANCE_FIELD_NUMBER: _ClassVar[int]
    DUTY_CYCLE_UPDATED_FIELD_NUMBER: _ClassVar[int]
    electrode_layout: ElectrodeLayout
    electrode_state: ElectrodeState
    image: Image
    image_transform: ImageTransform
    settings: Settings
    scan_capacitance: ScanCapacitance
    active_capacitance: ActiveCapacitance
    hv_regulator: HvRegulator
    temperature_control: TemperatureControl
    device_info: DeviceInfo
    group_capacitance: GroupCapacitance
    duty_cycle_updated: DutyCycleUpdated
    def __init__(self, electrode_layout: _Optional[_Union[ElectrodeLayout, _Mapping]] = ..., electrode_state: _Optional[_Union[ElectrodeState, _Mapping]] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., image_transform: _Optional[_Union[ImageTransform, _Mapping]] = ..., settings: _Optional[_Union[Settings, _Mapping]] = ..., scan_capacitance: _Optional[_Union[ScanCapacitance, _Mapping]] = ..., active_capacitance: _Optional[_Union[ActiveCapacitance, _Mapping]] = ..., hv_regulator: _Optional[_Union[HvRegulator, _Mapping]] = ..., temperature_control: _Optional[_Union[TemperatureControl, _Mapping]] = ..., device_info: _Optional[_Union[DeviceInfo, _Mapping]] = ..., group_capacitance: _Optional[_Union[GroupCapacitance, _Mapping]] = ..., duty_cycle_updated: _Optional[_Union[DutyCycleUpdated, _Mapping]] = ...) -> None: ...
