"""Operator tooling for tf-retainer: the ``tf-retainer`` command (see docs/operations.md)."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("tf-retainer")
except metadata.PackageNotFoundError:  # run from a checkout that was never installed (`make install`)
    __version__ = "0+unknown"

__all__ = ["__version__"]
