# SPDX-License-Identifier: Apache-2.0
"""Fixtures of lameduck's integration tests; the helpers live in tests/support (see its
__init__.py), the fake API server in tests/fakeapi. pytest.ini puts tests/ on sys.path.

* ``lameduck``: start lameduck; everything it started is SIGKILLed at teardown;
* ``sigecho``: a signal-echo child with its own log;
* ``echo_app``: both, waiting until sigecho is ready *and* has blocked its signals
  (sigecho prints "ready" a moment before);
* ``fake_api``, ``fake_api_factory``: from fakeapi.fixtures (loaded by the root conftest.py).
"""

from __future__ import annotations

import itertools
import signal
from typing import Optional, Sequence

import pytest

from support.env import LAMEDUCK_BIN, SIGECHO_BIN, is_foreign
from support.lameduck_proc import Lameduck
from support.qemu_limits import reason_for
from support.sigecho import Sigecho


def pytest_configure(config):
    """lameduck hands the app the signal dispositions it inherited, as every init does: an
    ignored signal stays ignored across exec (`nohup`). The tests check that the app starts
    with none ignored, so they must not pass on what pytest inherited: a shell ignores
    SIGINT and SIGQUIT for a command it starts in the background (`bash .ci/run &`),
    `nohup` ignores SIGHUP. ctest's children start clean (libuv resets them); a pytest run
    directly from such a shell gets the defaults back here. SIGPIPE and SIGXFSZ are Python's
    own, and subprocess restores them in every child."""
    del config
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ):
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                              else signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # not a signal Python may set (the real-time ones glibc keeps)


def pytest_collection_modifyitems(config, items):
    """Under qemu-user (LAMEDUCK_BIN for another architecture) skip what the emulator
    cannot do, with the reason (support/qemu_limits.py)."""
    if not is_foreign(LAMEDUCK_BIN):
        return
    for item in items:
        reason = reason_for(item.nodeid, is_foreign(SIGECHO_BIN))
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"qemu-user: {reason}"))


@pytest.fixture
def lameduck(tmp_path):
    """``lameduck(args, command, mode="plain"|"pid1"|"reaper", env=None,
    block_signals=(), stderr_fd=None)`` starts lameduck; everything it started is
    SIGKILLed at teardown."""
    started: list[Lameduck] = []

    def start(args: Sequence[str] = (), command: Sequence[str] = (), **kwargs) -> Lameduck:
        ld = Lameduck(args, command, workdir=tmp_path, **kwargs)
        started.append(ld)
        return ld.start()

    yield start
    for ld in started:
        ld.kill()


@pytest.fixture
def sigecho(tmp_path):
    """``sigecho()`` returns a Sigecho with a fresh log file in tmp_path."""
    n = itertools.count(1)
    return lambda: Sigecho(tmp_path / f"sigecho-{next(n)}.log")


@pytest.fixture
def echo_app(lameduck, sigecho):
    """``echo_app(lameduck_args, *sigecho_args, mode=..., env=..., wait_for=("main",))``
    starts ``lameduck ARGS -- sigecho --log FILE SIGECHO_ARGS`` and waits until the named
    sigecho processes are ready. Returns (Lameduck, Sigecho)."""

    def start(args: Sequence[str] = (), *echo_args: str, mode: str = "plain",
              env: Optional[dict] = None, ready: Sequence[str] = ("main",),
              block_signals: Sequence[int] = ()) -> tuple[Lameduck, Sigecho]:
        echo = sigecho()
        ld = lameduck(args, echo.command(*echo_args), mode=mode, env=env,
                      block_signals=block_signals)
        echo.lameduck = ld
        for who in ready:
            # With --exit, main never blocks its signals: it sleeps, then exits.
            echo.wait_ready(who, listening=who != "main" or "--exit" not in echo_args)
        return ld, echo

    return start
