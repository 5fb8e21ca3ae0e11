"""Fake Kubernetes API server for lameduck's tests; see README.md."""
