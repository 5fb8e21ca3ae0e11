# SPDX-License-Identifier: Apache-2.0
"""pytest fixtures for tests that need a fake Kubernetes API server.

The repository's root conftest.py loads this module as a plugin (``pytest_plugins``), so
any test just takes them as arguments::

    def test_something(fake_api):
        fake_api.set_slices([...])

Elsewhere: ``PYTHONPATH=tests /usr/bin/python3 -m pytest -p fakeapi.fixtures ...``.
"""

import pytest

from .harness import FakeApi


@pytest.fixture
def fake_api(tmp_path):
    """A started FakeApi on 127.0.0.1 with its files under the test's tmp_path."""
    api = FakeApi(dir=str(tmp_path / "fakeapi"))
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def fake_api_factory(tmp_path):
    """``make(**kw)`` starts another FakeApi (e.g. ``make(host="::1")``); all are
    stopped at teardown."""
    started = []

    def make(**kw):
        kw.setdefault("dir", str(tmp_path / f"fakeapi{len(started)}"))
        api = FakeApi(**kw)
        started.append(api)
        return api.start()

    yield make
    for api in started:
        api.stop()
