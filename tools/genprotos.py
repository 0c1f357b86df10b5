"""Regenerate the Python code for protos/ (run as `make protos`).

protoc writes pallet/<svc>/v1/*; each v1 package is copied to the folder that
the distribution maps pallet.<svc> onto (see pyproject.toml). Generated files
are never edited by hand.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = {
    "pallet/engine/v1": ("services/engine/v1", True),
    "pallet/images/v1": ("services/imagesvc/v1", True),
    "pallet/registry/v1": ("services/registry/v1", True),
    "pallet/net/v1": ("services/netsvc/v1", True),
    # The shim never imports grpc, so it gets messages only.
    "pallet/shim/v1": ("shim/v1", False),
}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for proto_dir, (dest, with_grpc) in TARGETS.items():
            protos = sorted(str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos" / proto_dir).glob("*.proto"))
            args = [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"),
                    f"--python_out={tmp}", f"--pyi_out={tmp}"]
            if with_grpc:
                args.append(f"--grpc_python_out={tmp}")
            subprocess.run(args + protos, check=True)
            out = ROOT / dest
            for old in out.glob("*_pb2*.py*"):
                old.unlink()
            out.mkdir(parents=True, exist_ok=True)
            for f in (pathlib.Path(tmp) / proto_dir).iterdir():
                shutil.copy(f, out / f.name)
            (out / "__init__.py").write_text('"""Generated from protos/' + proto_dir + ' by `make protos`."""\n')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
