"""What Foxglove needs to show a log: protobuf schemas as FileDescriptorSets, camera frames, a layout (pure)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from google.protobuf import descriptor_pb2, timestamp_pb2  # type: ignore[import-untyped]

COMPRESSED_IMAGE = "foxglove.CompressedImage"
FRAME_ID = "camera"
#: The layout shipped with pdlogkit: camera image, capacitance and HV plots (Foxglove: Layouts > Import from file).
LAYOUT = "purpledrop-layout.json"


@cache
def event_descriptor_set() -> bytes:
    """The schema of `protobuf.PurpleDropEvent` as a serialized FileDescriptorSet (MCAP's protobuf encoding)."""
    from ..schema import PurpleDropEvent

    proto = descriptor_pb2.FileDescriptorProto()
    PurpleDropEvent.DESCRIPTOR.file.CopyToProto(proto)
    return descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString()


@cache
def compressed_image_descriptor_set() -> bytes:
    """`foxglove.CompressedImage` (timestamp 1, data 2, format 3, frame_id 4) as a FileDescriptorSet."""
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.Timestamp.DESCRIPTOR.file.CopyToProto(timestamp)
    F = descriptor_pb2.FieldDescriptorProto
    image = descriptor_pb2.FileDescriptorProto(
        name="foxglove/CompressedImage.proto",
        package="foxglove",
        syntax="proto3",
        dependency=[timestamp.name],
    )
    message = image.message_type.add(name="CompressedImage")
    message.field.add(name="timestamp", number=1, type=F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    message.field.add(name="frame_id", number=4, type=F.TYPE_STRING)
    message.field.add(name="data", number=2, type=F.TYPE_BYTES)
    message.field.add(name="format", number=3, type=F.TYPE_STRING)
    for field in message.field:
        field.label = F.LABEL_OPTIONAL
    return descriptor_pb2.FileDescriptorSet(file=[timestamp, image]).SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_TAIL = b"\x1a\x04jpeg" + b"\x22" + _varint(len(FRAME_ID)) + FRAME_ID.encode()


def compressed_image_head(time_ns: int, size: int) -> bytes:
    """A `foxglove.CompressedImage` (JPEG, frame `camera`, at `time_ns`) up to its data (`size` bytes follow)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = b""
    if seconds:
        stamp += b"\x08" + _varint(seconds)
    if nanos:
        stamp += b"\x10" + _varint(nanos)
    return b"\x0a" + _varint(len(stamp)) + stamp + _TAIL + b"\x12" + _varint(size)


def layout_path() -> str:
    """The path of the Foxglove layout shipped with pdlogkit."""
    return str(resources.files(__package__).joinpath(LAYOUT))


__all__ = [
    "COMPRESSED_IMAGE",
    "compressed_image_descriptor_set",
    "compressed_image_head",
    "event_descriptor_set",
    "layout_path",
]
