# SPDX-License-Identifier: Apache-2.0
"""Fake Kubernetes API server for lameduck's tests; see README.md.

Tests use ``fakeapi.harness.FakeApi`` (or the ``fakeapi.fixtures``) and the builders in
``fakeapi.slices``; ``python3 -m fakeapi`` runs the server itself.
"""
