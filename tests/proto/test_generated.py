"""The committed protobuf code is what `make proto` generates from orders.proto today."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTO = Path("services/proto/orders/v1/orders.proto")
GENERATED = ["orders_pb2.py", "orders_pb2_grpc.py", "orders_pb2.pyi", "orders_pb2_grpc.pyi"]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary copy of the proto's repository layout, with protoc's output next to it."""
    root = tmp_path_factory.mktemp("proto")
    (root / PROTO.parent).mkdir(parents=True)
    shutil.copy(REPO / PROTO, root / PROTO)
    # The mypy plugins (protoc-gen-mypy, protoc-gen-mypy_grpc) live next to the interpreter.
    bin_dir = str(Path(sys.executable).parent)
    environ = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            ".",
            "--python_out=.",
            "--grpc_python_out=.",
            "--mypy_out=.",
            "--mypy_grpc_out=.",
            str(PROTO),
        ],
        cwd=root,
        env=environ,
        check=True,
        capture_output=True,
    )
    return root / PROTO.parent


@pytest.mark.parametrize("name", GENERATED)
def test_committed_file_matches_a_fresh_generation(regenerated: Path, name: str) -> None:
    committed = (REPO / PROTO.parent / name).read_bytes()
    fresh = (regenerated / name).read_bytes()

    assert committed == fresh, f"{PROTO.parent / name} is stale: run `make proto` and commit it"
