"""The schema module matches specs/messages.proto and the gateway's wire contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from pdlogkit import KINDS
from pdlogkit.schema import PurpleDropEvent, messages_pb2

PROTO = Path(__file__).resolve().parent.parent / "specs" / "messages.proto"


def test_checked_in_module_matches_the_proto(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a test dependency) compiles the .proto")
    out = tmp_path / "messages.desc"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}", f"--descriptor_set_out={out}", PROTO.name],
        check=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(compiled.message_type)  # derived data protoc adds to descriptor sets only
    checked_in = descriptor_pb2.FileDescriptorProto.FromString(messages_pb2.DESCRIPTOR.serialized_pb)
    assert checked_in == compiled, "pdlogkit/schema is stale: run tools/gen_schema.py"


def _drop_json_names(messages) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


def test_oneof_fields_are_the_gateway_kinds_with_their_numbers():
    fields = PurpleDropEvent.DESCRIPTOR.oneofs_by_name["msg"].fields
    assert [(f.number, f.name) for f in fields] == list(enumerate(KINDS, start=1))


@pytest.mark.parametrize(
    ("message", "field", "number"),
    [
        ("HvRegulator", "timestamp", 3),
        ("TemperatureControl", "timestamp", 3),
        ("ActiveCapacitance", "baseline", 3),
        ("ActiveCapacitance", "calibrated", 5),
        ("ElectrodeState", "scan_groups", 4),
        ("ImageTransform", "image_height", 5),
        ("CapacitanceMeasurement", "raw", 3),
        ("DeviceInfo", "software_version", 3),
    ],
)
def test_field_numbers_that_differ_from_the_obvious_match_the_protocol(message, field, number):
    assert getattr(messages_pb2, message).DESCRIPTOR.fields_by_name[field].number == number


def test_package_name_is_protobuf_like_the_gateway():
    assert PurpleDropEvent.DESCRIPTOR.full_name == "protobuf.PurpleDropEvent"


def test_schema_coexists_with_another_copy_in_the_default_pool():
    """pdclient registers the same messages in the default pool; ours lives in a private one."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    pool.AddSerializedFile(messages_pb2.DESCRIPTOR.serialized_pb)  # what another copy would do
    assert pool.FindMessageTypeByName("protobuf.PurpleDropEvent").full_name == "protobuf.PurpleDropEvent"
    assert PurpleDropEvent.FromString(PurpleDropEvent().SerializeToString()) == PurpleDropEvent()
