"""An earlier release's source, ready to run beside this one: its `src/` from git (by tag, or by
the commit the tag names when tags did not travel with the clone), its protos generated with the
installed grpcio-tools. Run with PYTHONPATH at its `src`, it shadows the installed checkout."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

# The release rolling upgrades are tested from, and the commit it names.
PREVIOUS = ("v0.1.0", "6cb4b73caac3c2f29b1eb2e8e082c44d97cb2746")
REPO = Path(__file__).resolve().parents[2]


class ReleaseUnavailable(RuntimeError):
    """The release is not in this clone's history (a shallow clone): the test must fail, not skip."""


def _archive(ref: str) -> bytes | None:
    done = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "src", "protos"],
        capture_output=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


def checkout_release(into: Path, release: tuple[str, str] = PREVIOUS) -> Path:
    """Writes the release's src/ and protos/ under `into`, generates its gRPC code; returns the
    `src` directory to put on PYTHONPATH."""
    tag, commit = release
    archive = _archive(tag) or _archive(commit)
    if archive is None:
        raise ReleaseUnavailable(f"neither {tag} nor {commit} is in this clone (a shallow clone?)")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    import google.rpc.status_pb2 as status  # googleapis-common-protos: where status.proto lives

    googleapis = Path(status.__file__).parents[2]
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", "-I", str(into / "protos"), "-I", str(googleapis),
            f"--python_out={into / 'src'}", f"--grpc_python_out={into / 'src'}",
            str(into / "protos" / "authsvc" / "v1" / "auth.proto"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return into / "src"
