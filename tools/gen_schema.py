"""Regenerate pdlogkit/schema/messages_pb2.py(.pyi) from specs/messages.proto.

Run with grpcio-tools 1.66.2 (protoc 27.2): its gencode runs on protobuf >= 5.27,
the floor pyproject.toml declares. A newer protoc emits gencode that refuses
every runtime older than itself.

    python -m venv /tmp/gen && /tmp/gen/bin/pip install grpcio-tools==1.66.2
    /tmp/gen/bin/python tools/gen_schema.py

The generated module registers its descriptors in a private pool rather than the
process-wide default one, so it coexists with any other copy of the same schema
(for example the one inside the pdclient library) in the same process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "specs" / "messages.proto"
OUT = ROOT / "pdlogkit" / "schema"
PROTOC_VERSION = "libprotoc 27.2"
DEFAULT_POOL = "_descriptor_pool.Default()"
PRIVATE_POOL = "_descriptor_pool.DescriptorPool()"


def generate(out_dir: Path) -> None:
    """Write messages_pb2.py and messages_pb2.pyi for PROTO into out_dir."""
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}"]
    subprocess.run([*cmd, f"--python_out={out_dir}", f"--pyi_out={out_dir}", PROTO.name], check=True)
    module = out_dir / "messages_pb2.py"
    text = module.read_text()
    if text.count(DEFAULT_POOL) != 1:
        raise SystemExit(f"unexpected protoc output: {DEFAULT_POOL} not found once")
    module.write_text(text.replace(DEFAULT_POOL, PRIVATE_POOL))


def main() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != PROTOC_VERSION:
        raise SystemExit(f"need {PROTOC_VERSION} (grpcio-tools==1.66.2), found {version}")
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        for name in ("messages_pb2.py", "messages_pb2.pyi"):
            (OUT / name).write_text((Path(tmp) / name).read_text())
            print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
