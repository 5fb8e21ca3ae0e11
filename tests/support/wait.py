# SPDX-License-Identifier: Apache-2.0
"""Timing knobs and ``wait_for``: upper bounds for a busy machine, polling with a deadline."""

from __future__ import annotations

import os
import time
from typing import Callable, TypeVar

# Upper bounds are "expected time + SLACK": generous, for a busy 2-core machine.
SLACK = float(os.environ.get("LDTEST_SLACK", "1.5"))
# Default timeout for anything that should happen "soon".
TIMEOUT = float(os.environ.get("LDTEST_TIMEOUT", "10"))
# Lower bounds allow for the 6 decimals sigecho prints.
EPSILON = 0.002

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_for(predicate: Callable[[], T], timeout: float = TIMEOUT, interval: float = 0.01,
             message: str | Callable[[], str] = "condition") -> T:
    """Polls predicate until it returns something truthy, and returns that; raises
    WaitTimeout (an AssertionError) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise WaitTimeout(f"timed out after {timeout}s waiting for {text}")
        time.sleep(interval)
