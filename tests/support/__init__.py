# SPDX-License-Identifier: Apache-2.0
"""Helpers for lameduck's integration tests (and demo/, bench/), imported by module:

* ``support.wait``: ``SLACK``, ``TIMEOUT``, ``EPSILON``, ``wait_for(predicate, timeout)``;
* ``support.procfs``: /proc helpers (``proc_stat``, ``children_of``, ``descendants_of``,
  ``alive``, ``signal_mask``, ...);
* ``support.env``: the binaries (``LAMEDUCK_BIN``, ``SIGECHO_BIN``), ``base_env()`` (no
  KUBERNETES_*/LAMEDUCK_*/POD_*), PID namespaces (``pid1_prefix``, ``MODES``),
  sanitizers, ``kill_marked(marker)`` for processes started with ``LDTEST_RUN_ID=<marker>``;
  ``lameduck_argv(*args)`` / ``emulated(path)``: binaries for another architecture under
  the emulator named by ``LDTEST_EMULATOR`` (qemu-user);
* ``support.qemu_limits``: the tests qemu-user cannot support, and why;
* ``support.lameduck_proc``: ``Lameduck`` (a running lameduck), ``run_lameduck(args)``
  (one-shot runs to the end), ``Result``;
* ``support.sigecho``: ``Sigecho`` / ``SigechoLog``, the signal-echo child's log.

The fixtures ``lameduck``, ``sigecho``, ``echo_app`` are in tests/integration/conftest.py;
``fake_api``, ``fake_api_factory`` (``fakeapi.fixtures``) are loaded by the root
conftest.py. pytest.ini puts tests/ on sys.path.
"""
