"""make build refuses a build whose compiled libraries are not for the template's architecture, or whose layer
holds other versions than uv.lock pins."""

from pathlib import Path

from local.check_build import layer_drift, machine, pinned, wrong_binaries


def elf(path: Path, e_machine: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF" + bytes(14) + e_machine.to_bytes(2, "little") + bytes(40))
    return path


def test_a_library_for_another_machine_is_named(tmp_path):
    elf(tmp_path / "CommonLayer/python/pydantic_core/_core.cpython-311-aarch64-linux-gnu.so", 0xB7)
    wrong = elf(tmp_path / "CommonLayer/python/wrapt/_wrappers.cpython-311-x86_64-linux-gnu.so", 0x3E)
    assert wrong_binaries(tmp_path, "arm64") == [f"{wrong}: x86_64"]
    assert wrong_binaries(tmp_path, "x86_64") == [
        f"{tmp_path}/CommonLayer/python/pydantic_core/_core.cpython-311-aarch64-linux-gnu.so: arm64"
    ]


def test_what_is_not_elf_is_not_taken_for_a_library(tmp_path):
    (tmp_path / "x.so").write_bytes(b"#!/bin/sh\n")
    assert machine(tmp_path / "x.so") == "not ELF"


REQUIREMENTS = """\
# Exported from uv.lock
pydantic-core==2.46.5 ; python_full_version >= '3.11' \\
    --hash=sha256:00
    # via pydantic
typing-extensions==4.16.0 \\
    --hash=sha256:11
"""


def built(tmp_path: Path, *dist_infos: str) -> Path:
    for name in dist_infos:
        (tmp_path / "CommonLayer/python" / name).mkdir(parents=True)
    return tmp_path


def test_the_exported_pins_are_read_whatever_their_markers_and_hashes():
    assert pinned(REQUIREMENTS) == {"pydantic-core": "2.46.5", "typing-extensions": "4.16.0"}


def test_a_layer_at_the_locked_versions_passes(tmp_path):
    build = built(tmp_path, "pydantic_core-2.46.5.dist-info", "typing_extensions-4.16.0.dist-info")
    assert layer_drift(build, REQUIREMENTS) == []


def test_another_version_a_missing_package_and_an_unlocked_one_are_each_named(tmp_path):
    build = built(tmp_path, "pydantic_core-2.47.0.dist-info", "six-1.17.0.dist-info")
    assert layer_drift(build, REQUIREMENTS) == [
        "pydantic-core: built 2.47.0, uv.lock pins 2.46.5",
        "six: built 1.17.0, uv.lock pins nothing",
        "typing-extensions: built missing, uv.lock pins 4.16.0",
    ]
