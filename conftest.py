# SPDX-License-Identifier: Apache-2.0
"""pytest set-up for the whole repository (pytest.ini puts tests/ on sys.path).

pytest wants ``pytest_plugins`` in the rootdir's conftest; the fake API's fixtures
(``fake_api``, ``fake_api_factory``) are loaded here once for every test.
"""

pytest_plugins = ["fakeapi.fixtures"]
