"""learnapp's performance benchmark: `make bench` or `python -m bench` (see BENCHMARKS.md).

Throughput is measured with wrk against gunicorn serving the real app, always as a ratio to a
trivial route on the same server in the same run, with the server's CPU time per request; the
guard rails (issue 17, bench/report.py) hold the CPU of the busiest pages to a reference run
of b7252b1 on the same host (bench/reference.py). A class of 20 cohorts arriving within a
minute at two servers is bench/classroom.py.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
LUA = PACKAGE / "lua" / "bench.lua"
