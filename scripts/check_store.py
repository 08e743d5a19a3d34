#!/usr/bin/env python3
"""Persistence stays in one place: SQL that is raw, dialect-specific or sent
to the driver lives in `mobile_sync/store/` (migrations, tests and benchmarks
aside). This check fails when such a statement appears anywhere else.

`PENDING` lists the modules whose statements have not moved yet, with how many
such lines each still has: a ratchet. A module not listed may have none; a
listed one may not gain any. When a module loses some, lower its number (or
drop it) in the same commit.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("mobile_sync", "server", "schemas")
STORE = ROOT / "mobile_sync" / "store"
# SQL and the driver: SQLAlchemy's raw paths, psycopg, and SQLite's own driver
# (connections, PRAGMAs), used directly for files or errors.
PATTERN = re.compile(r"dialect\.name|is_postgresql\(|\btext\(|exec_driver_sql|driver_rows\(|\.cursor\(|"
                     r"\bpsycopg\b|on_postgresql|\bsqlite3\.connect\b|\bPRAGMA\b|"
                     r"^\s*(?:import\s+sqlite3|from\s+sqlite3\s+import)\b")
# Not persistence: the database URL's driver name in the configuration.
EXEMPT = {"server/config.py"}

PENDING: dict[str, int] = {}  # every module has moved (issue 16)


def findings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if STORE in path.parents:
                continue
            name = path.relative_to(ROOT).as_posix()
            if name in EXEMPT:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if PATTERN.search(line):
                    found.setdefault(name, []).append(f"{name}:{number}: {line.strip()}")
    return found


def main() -> int:
    problems, notes = [], []
    found = findings()
    for name, lines in found.items():
        allowed = PENDING.get(name, 0)
        if len(lines) > allowed:
            problems.append(f"{name}: {len(lines)} lines of SQL outside mobile_sync/store/ (allowed {allowed}):\n  "
                            + "\n  ".join(lines))
    for name, allowed in PENDING.items():
        have = len(found.get(name, []))
        if have < allowed:
            notes.append(f"{name}: {have} left (PENDING says {allowed}): lower it")
    for note in notes:
        print(f"check_store: {note}")
    if problems:
        print("check_store: move these statements into mobile_sync/store/:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    print(f"check_store: ok ({sum(len(v) for v in found.values())} lines in {len(found)} modules still to move)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
