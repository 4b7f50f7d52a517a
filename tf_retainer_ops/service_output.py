"""What the service's own code writes while a command runs it: the operator's stdout is the command's.

The service logs for Lambda (Powertools JSON on stdout) and emits EMF metrics (on stdout, collected only in
Lambda). A command that runs a use case (a revocation recorded, a backfill) would mix those lines into its
output, and `--json` would not parse: here the service's warnings and errors go to stderr, its info lines
and metrics nowhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def quiet_service(err: TextIO) -> Iterator[None]:
    # Imported here: observability reads the POWERTOOLS_* settings once, after the command set its target's.
    from tf_retainer.runtime.observability import logger, metrics

    handler = logger.registered_handler
    streamed = handler if isinstance(handler, logging.StreamHandler) else None
    level = logger.log_level
    logger.setLevel("WARNING")
    stream = streamed.setStream(err) if streamed is not None else None
    try:
        # A sink, not a buffer: a long backfill would hold every EMF record in memory.
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        metrics.clear_metrics()
        logger.setLevel(level)
        if streamed is not None and stream is not None:
            streamed.setStream(stream)
