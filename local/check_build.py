"""After `sam build`: every compiled library in the build is for the architecture the template deploys, and
the layer holds exactly the versions uv.lock pins (the ones the tests ran).

``sam build`` without a container fetches wheels for the functions' architecture; a dependency with no
wheel for it would be compiled for this machine instead and fail only when Lambda imports it. This reads
each shared object's ELF header (e_machine), so it needs no ``file`` command. The layer's packages are read
from their ``*.dist-info`` folders and compared with layers/common/requirements.txt (exported from uv.lock).

    python -m local.check_build [.aws-sam/build]
"""

from __future__ import annotations

import re
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


LAYER = Path("CommonLayer/python")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line (hashes, markers and comments ignored)."""
    return {canonical(name): version for name, version in PIN.findall(requirements)}


def installed(site: Path) -> dict[str, str]:
    """name -> version of every distribution in a built layer, from its dist-info folder's name."""
    found = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[canonical(name)] = version
    return found


def layer_drift(build: Path, requirements: str) -> list[str]:
    """Every package whose built version differs from the pinned one, or is missing or unpinned."""
    want, have = pinned(requirements), installed(build / LAYER)
    return [
        f"{name}: built {have.get(name, 'missing')}, uv.lock pins {want.get(name, 'nothing')}"
        for name in sorted(want.keys() | have.keys())
        if want.get(name) != have.get(name)
    ]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    build = Path(args[0] if args else ".aws-sam/build")
    architecture = load_template()["Globals"]["Function"]["Architectures"][0]
    binaries = list(build.rglob("*.so*"))
    wrong = wrong_binaries(build, architecture)
    for line in wrong:
        print(f"check_build: {line}, expected {architecture}", file=sys.stderr)
    print(f"check_build: {len(binaries) - len(wrong)}/{len(binaries)} compiled libraries are {architecture}")
    requirements = Path("layers/common/requirements.txt").read_text(encoding="utf-8")
    drift = layer_drift(build, requirements)
    for line in drift:
        print(f"check_build: layer {line}", file=sys.stderr)
    print(f"check_build: the layer holds {len(pinned(requirements)) - len(drift)} packages at uv.lock's versions")
    return 1 if wrong or drift or not binaries else 0


if __name__ == "__main__":
    raise SystemExit(main())
