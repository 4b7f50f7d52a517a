"""After `sam build`: every compiled library in the build is for the architecture the template deploys.

``sam build`` without a container fetches wheels for the functions' architecture; a dependency with no
wheel for it would be compiled for this machine instead and fail only when Lambda imports it. This reads
each shared object's ELF header (e_machine), so it needs no ``file`` command.

    python -m local.check_build [.aws-sam/build]
"""

from __future__ import annotations

import sys
from pathlib import Path

from .provision import load_template

# ELF e_machine values (little-endian half-word at offset 18).
MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return "not ELF"
    return MACHINES.get(int.from_bytes(header[18:20], "little"), f"machine {header[18:20].hex()}")


def wrong_binaries(build: Path, architecture: str) -> list[str]:
    return [f"{path}: {found}" for path in sorted(build.rglob("*.so*")) if (found := machine(path)) != architecture]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    build = Path(args[0] if args else ".aws-sam/build")
    architecture = load_template()["Globals"]["Function"]["Architectures"][0]
    binaries = list(build.rglob("*.so*"))
    wrong = wrong_binaries(build, architecture)
    for line in wrong:
        print(f"check_build: {line}, expected {architecture}", file=sys.stderr)
    print(f"check_build: {len(binaries) - len(wrong)}/{len(binaries)} compiled libraries are {architecture}")
    return 1 if wrong or not binaries else 0


if __name__ == "__main__":
    raise SystemExit(main())
