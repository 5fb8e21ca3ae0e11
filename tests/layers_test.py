#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The layer check (scripts/check-layers.py) fails on an include that points up or across,
on an include without its folder, and on an exception that is no longer needed. Each case
runs the check on a copy of src/ with one line changed."""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check-layers.py"


def check(src):
    run = subprocess.run([sys.executable, CHECK, src], capture_output=True, text=True)
    return run.returncode, run.stdout


def with_line(src, path, line, expect):
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT / "src", src)
    target = src / path
    target.write_text(line + "\n" + target.read_text())
    code, out = check(src)
    assert code == 1 and expect in out, f"{path} + {line!r}: exit {code}, output:\n{out}"


with tempfile.TemporaryDirectory() as tmp:
    src = pathlib.Path(tmp) / "src"
    shutil.copytree(ROOT / "src", src)
    code, out = check(src)
    assert code == 0, f"the tree as it is should pass:\n{out}"
    with_line(src, "base/text.h", '#include "init/supervisor.h"',
              'base/text.h: #include "init/supervisor.h" points up')
    with_line(src, "kube/http.h", '#include "traffic/net_address.h"',
              'kube/http.h: #include "traffic/net_address.h" points up or across')
    with_line(src, "drain/drain.cpp", '#include "commands/run.h"', "drain/drain.cpp")
    with_line(src, "control/control_socket.h", '#include "control_protocol.h"',
              '"control_protocol.h" points up or across')
    # An exception whose include is gone must be dropped from the list.
    listed = re.search(r'\("([^"]+)", "([^"]+)"\):', CHECK.read_text())
    if listed:
        path, header = listed.groups()
        shutil.rmtree(src)
        shutil.copytree(ROOT / "src", src)
        target = src / path
        target.write_text(target.read_text().replace(f'#include "{header}"', ""))
        code, out = check(src)
        assert code == 1 and "drop the entry" in out, f"stale exception: exit {code}:\n{out}"
    # An allowed include still passes when it is added: the copy is not just any change.
    shutil.rmtree(src)
    shutil.copytree(ROOT / "src", src)
    (src / "kube/http.h").write_text('#include "drain/wait_source.h"\n' + (src / "kube/http.h").read_text())
    assert check(src)[0] == 0, "kube/ may include drain/wait_source.h"
print("layers_test: the check refuses upward, sideways and folderless includes")
