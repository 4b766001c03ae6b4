"""Generate the Python contracts package `mis.v1` from `proto/mis/v1`.

The generated code is committed, so the package installs without grpcio-tools
and other teams can vendor it; `--check` regenerates into a scratch folder and
fails when the committed copy is stale (run by `make proto-check`).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("mis") / "v1"
HEADER = '"""Generated from proto/mis/v1 by `make proto`; do not edit."""\n'


def generate(out_root: Path) -> list[Path]:
    """Compile every contract into `out_root/mis/v1` and return the files written."""
    from grpc_tools import protoc
    import grpc_tools

    sources = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
    if not sources:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / PACKAGE}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
            f"--python_out={out_root}", f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}",
            *[str(s.relative_to(PROTO_ROOT)) for s in sources]]
    (out_root / PACKAGE).mkdir(parents=True, exist_ok=True)
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (out_root / "mis" / "__init__.py").write_text(
        '"""MIS platform contracts; the generated messages and stubs live in mis.v1."""\n')
    (out_root / PACKAGE / "__init__.py").write_text(HEADER)
    return sorted(p for p in (out_root / PACKAGE).iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="fail if the committed mis/v1 differs from a fresh generation")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        fresh = generate(Path(scratch))
        target = ROOT / PACKAGE
        if args.check:
            committed = {p.name for p in target.glob("*") if p.is_file()}
            names = {p.name for p in fresh}
            stale = sorted(names ^ committed)
            stale += [p.name for p in fresh
                      if p.name in committed and not filecmp.cmp(p, target / p.name, shallow=False)]
            if stale:
                print(f"mis/v1 is stale ({', '.join(sorted(set(stale)))}): run `make proto`",
                      file=sys.stderr)
                return 1
            print(f"mis/v1 is fresh ({len(fresh)} files)")
            return 0
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for path in fresh:
            shutil.copy2(path, target / path.name)
        shutil.copy2(Path(scratch) / "mis" / "__init__.py", ROOT / "mis" / "__init__.py")
        print(f"wrote {len(fresh)} files to {PACKAGE}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
