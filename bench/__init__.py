"""learnapp's performance benchmark: `make bench` or `python -m bench` (see BENCHMARKS.md).

Throughput is measured with wrk against gunicorn serving the real app, always as a ratio to a
trivial route on the same server in the same run, so that figures from different machines can
be compared with the budget in the design (shared/design.md, "Performance budget").
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
LUA = PACKAGE / "lua" / "bench.lua"
