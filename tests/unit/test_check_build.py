"""make build refuses a build whose compiled libraries are not for the template's architecture."""

from pathlib import Path

from local.check_build import machine, wrong_binaries


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
