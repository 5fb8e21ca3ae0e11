# SPDX-License-Identifier: Apache-2.0
"""``python3 -m fakeapi`` (with tests/ on the path) runs the server; see README.md."""

import sys

from .server import main

sys.exit(main())
