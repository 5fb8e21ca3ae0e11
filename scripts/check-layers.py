#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every arrow points down: each folder of src/ includes only the folders below it (README.md,
"Development"). Usage: check-layers.py [SRC_DIR]; exit 1 on a breach."""
import pathlib
import re
import sys

MAY_INCLUDE = {  # folder -> what its files may include besides their own folder
    "base": set(),
    "drain": {"base"},
    "kube": {"base", "drain/wait_source.h"},
    "traffic": {"base", "drain/wait_source.h"},
    "control": {"base"},
    "init": {"base", "drain", "control"},
    "cli": {"base", "kube/kube_options.h", "traffic/traffic_options.h", "init/signals.h"},
    "commands": {"base", "drain", "kube", "traffic", "control", "init", "cli"},
    ".": {"base", "cli", "commands"},  # main.cpp; base is every layer's floor
}
CLI = "the CLI structs move to their wings (issue 19's CLI part)"
EXCEPTIONS = {  # (file, include) -> why; each goes with the work it names
    ("main.cpp", "init/exit_status.h"): CLI + ": main's second dispatch and kExitUsage",
    ("main.cpp", "kube/kube_config.h"): CLI + ": --check's check_api into commands/",
    ("drain/drain_runner.cpp", "init/signals.h"): "signal_name() for the timeline; pure",
    ("traffic/traffic_wait.cpp", "init/orphans.h"): "descendants_of() until base/procfs",
    ("init/supervisor.h", "cli/options.h"): "Supervisor takes RunOptions (to turn)",
    ("init/supervisor.h", "commands/wait_setup.h"): "Supervisor takes WaitSetup (to turn)",
}

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent / "src")
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
breaches, used = [], set()
for path in sorted(p for p in src.rglob("*") if p.suffix in (".h", ".cpp")):
    rel = path.relative_to(src).as_posix()
    folder = rel.split("/")[0] if "/" in rel else "."
    if folder not in MAY_INCLUDE:
        breaches.append(f"{rel}: folder {folder}/ is not in the table")
        continue
    for header in include.findall(path.read_text()):
        target = header.split("/")[0] if "/" in header else "."
        allowed = MAY_INCLUDE[folder] | {folder}
        if target in allowed or header in allowed:
            continue
        if (rel, header) in EXCEPTIONS:
            used.add((rel, header))
            continue
        breaches.append(f'{rel}: #include "{header}" points up or across ({folder}/ may include: '
                        f'{", ".join(sorted(MAY_INCLUDE[folder])) or "nothing of ours"})')
breaches += [f'{f}: #include "{h}" is listed as an exception but is gone: drop the entry'
             for f, h in sorted(EXCEPTIONS.keys() - used)]
print("\n".join(breaches) if breaches else f"layers: every include in {src} points down")
sys.exit(1 if breaches else 0)
