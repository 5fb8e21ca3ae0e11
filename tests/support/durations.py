# SPDX-License-Identifier: Apache-2.0
"""Durations in lameduck's syntax (src/base/duration.cpp): ``500ms``, ``15s``, ``2m``, ``1h``, a
bare number of seconds, at most a day. For tools (demo/) that take lameduck-style
durations on their own command line."""

import argparse
import math
import re

_DURATION = re.compile(r"^(\d*\.?\d*)(ms|s|m|h|)$")
_SCALE = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "h": 3600.0}


class DurationError(ValueError, argparse.ArgumentTypeError):
    """Not a duration (argparse shows the message for ``type=parse_duration``)."""


def parse_duration(text) -> float:
    """A duration in lameduck's syntax -> seconds (float); raises DurationError."""
    t = str(text).strip()
    m = _DURATION.match(t)
    if m and any(c.isdigit() for c in m[1]) and len(t) <= 32:
        seconds = float(m[1]) * _SCALE[m[2]]
        if math.isfinite(seconds) and seconds <= 86400:
            return seconds
    raise DurationError(f"bad duration {text!r} (use 500ms, 15s, 2m, 1h or seconds)")
