"""The reference run the CPU guard rails compare with: b7252b1 (the tuned data path issue 17
replaced), measured by its own `make bench` on this host, per backend.

bench/reference.json keeps, for each backend, the figures of one such run (a results.json
trimmed of its per-run wrk output). `python -m bench --reference PATH` compares with another
file of either kind instead, such as the bench/results.json a run at the reference commit has
just written in a worktree of its own (BENCHMARKS.md, "Guard rails", says how). To replace
the stored reference with such runs:

    .venv/bin/python -m bench.reference /tmp/bench-b7252b1/bench/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import PACKAGE

REFERENCE = PACKAGE / "reference.json"
REFERENCE_COMMIT = "b7252b1"
# Kept of each scenario: enough for the rails and for a row of BENCHMARKS.md's table.
SCENARIO_KEYS = (
    "title",
    "ratio",
    "rps",
    "trivial_rps",
    "p50_ms",
    "p99_ms",
    "server_cpu_ms",
    "trivial_server_cpu_ms",
    "cpu_ratio",
    "errors",
)
RUN_KEYS = ("date", "machine", "commit", "backend", "configuration", "render", "synchronized")


def trim(run: dict[str, Any]) -> dict[str, Any]:
    kept = {key: run[key] for key in RUN_KEYS if key in run}
    kept["scenarios"] = {
        name: {key: entry[key] for key in SCENARIO_KEYS if key in entry}
        for name, entry in run.get("scenarios", {}).items()
    }
    sql = run.get("sql") or {}
    kept["sql"] = {"constant": sql.get("constant")}
    return kept


def load(path: Path, backend: str) -> dict[str, Any] | None:
    """The latest run of `backend` in `path` (a reference.json or a results.json), trimmed;
    None when it holds none."""
    if not path.exists():
        return None
    runs = json.loads(path.read_text()).get("runs", [])
    chosen = [run for run in runs if run.get("backend") == backend]
    return trim(chosen[-1]) if chosen else None


def same_host(reference: dict[str, Any], machine: dict[str, Any]) -> bool:
    theirs = reference.get("machine", {})
    return (theirs.get("cpu"), theirs.get("cores")) == (machine.get("cpu"), machine.get("cores"))


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    stored = json.loads(REFERENCE.read_text()).get("runs", []) if REFERENCE.exists() else []
    for name in paths:
        for run in json.loads(Path(name).read_text()).get("runs", []):
            stored = [r for r in stored if r.get("backend") != run["backend"]] + [trim(run)]
            print(f"reference for {run['backend']}: {run['commit']} of {run['date']}")
    REFERENCE.write_text(json.dumps({"runs": stored}, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
