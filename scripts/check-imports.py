#!/usr/bin/env python3
"""Checks that every target imports exactly what Package.swift declares for it.

SwiftPM's `--explicit-target-dependency-import-check error` (which CI also runs) accepts an
import of any module in a target's dependency closure; this check is stricter: each project
target or product a source file imports must be a direct dependency of its target, and each
direct dependency must be imported by at least one of its files. Modules of the toolchain
(Foundation, Dispatch, Glibc, Synchronization, Testing, ...) are not dependencies and are ignored.
"""
import json
import pathlib
import re
import subprocess
import sys

TOOLCHAIN = {"Foundation", "FoundationEssentials", "Dispatch", "Glibc", "Musl", "Darwin", "Synchronization",
             "Testing", "XCTest", "FoundationXML", "FoundationNetworking", "_Concurrency", "os", "Observation"}
IMPORT = re.compile(r"^\s*(?:@testable\s+|@preconcurrency\s+|@_spi\(\w+\)\s+)*import\s+(?:(?:struct|class|enum|func|var|protocol)\s+)?(\w+)", re.M)

root = pathlib.Path(__file__).resolve().parent.parent
package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                    capture_output=True, text=True).stdout)
problems = []
for target in package["targets"]:
    if target["type"] in ("system", "binary", "plugin", "macro"):
        continue
    declared = set()
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        declared.add(value[0])
    default = {"test": "Tests", "executable": "Sources"}.get(target["type"], "Sources")
    folder = root / (target.get("path") or f"{default}/{target['name']}")
    imported = set()
    for source in sorted(folder.rglob("*.swift")):
        for module in IMPORT.findall(source.read_text(encoding="utf-8")):
            if module in TOOLCHAIN or module == target["name"]:
                continue
            imported.add(module)
            if module not in declared:
                problems.append(f"{source.relative_to(root)}: imports {module}, which {target['name']} does not declare")
    # A C target (a folder without Swift) declares what its headers need: not checked.
    if not any(folder.rglob("*.swift")):
        continue
    for module in sorted(declared - imported):
        problems.append(f"Package.swift: {target['name']} declares {module} and none of its files imports it")

for problem in problems:
    print(problem)
print("imports ok" if not problems else f"{len(problems)} import problems")
sys.exit(1 if problems else 0)
