# SPDX-License-Identifier: Apache-2.0
"""``import _repo`` before the helpers shared with the tests: it puts the repository's tests/
on sys.path, for ``support`` and ``fakeapi``. (bench/_repo.py is the same file.)"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TESTS = str(ROOT / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
