"""Running wrk, and the interleaved rounds: trivial, scenario, trivial, scenario, ..., trivial.

Each scenario's ratio in a round is its throughput over the mean of the trivial runs just
before and just after it, made with the same wrk settings; the reported ratio is the median
over the rounds. Sharing the machine with wrk, and whatever else runs on it, then shifts both
sides of the ratio alike.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import LUA

MARKER = "BENCH_JSON "


class HarnessError(RuntimeError):
    """The benchmark could not run (as opposed to a guard rail that was missed)."""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        print("wrk is missing: install it with  sudo apt-get install wrk", file=sys.stderr)
        raise SystemExit(2)
    return path


@dataclass
class Load:
    """wrk's settings for one scenario (its trivial runs use the same)."""

    threads: int = 2
    connections: int = 8
    seconds: float = 5
    timeout: str = "60s"


@dataclass
class Scenario:
    name: str
    title: str
    url_path: str  # the URL wrk is given (the plain mode requests exactly this)
    script_args: list[str] = field(default_factory=lambda: ["plain"])
    headers: list[str] = field(default_factory=list)
    load: Load = field(default_factory=Load)
    budget: float | None = None  # minimum ratio to the trivial route
    # For scenarios that use up what they send (quiz submits): the script arguments of run
    # number n (0 is the warm-up), so that each run gets a pool of its own.
    args_for_run: Callable[[int], list[str]] | None = None

    def args(self, run: int) -> list[str]:
        return self.args_for_run(run) if self.args_for_run else self.script_args


def run_wrk(
    base: str,
    path: str,
    load: Load,
    script_args: list[str],
    headers: list[str] = (),  # type: ignore[assignment]
    seconds: float | None = None,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    duration = seconds if seconds is not None else load.seconds
    command = [
        require_wrk(),
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={load.timeout}",
        "--latency",
        "-s",
        str(LUA),
    ]
    for header in headers:
        command += ["-H", header]
    command += [base + path, "--", *script_args]
    env = {**os.environ, "BENCH_WRK_THREADS": str(load.threads)}
    cpu_before = cpu() if cpu else 0.0
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=duration + 120, check=False
    )
    cpu_used = (cpu() - cpu_before) if cpu else None
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise HarnessError(
            f"wrk failed ({done.returncode}) on {path}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    result = json.loads(line.removeprefix(MARKER))
    seconds_run = result["duration_us"] / 1e6
    errors = result["errors"]
    result["rps"] = result["requests"] / seconds_run if seconds_run else 0.0
    result["error_count"] = sum(errors.values())
    if cpu_used is not None and result["requests"]:
        result["server_cpu_ms_per_request"] = cpu_used * 1000 / result["requests"]
    return result


TRIVIAL_PATH = "/bench/trivial"


def measure(
    base: str,
    scenario: Scenario,
    rounds: int,
    warmup: float = 1.0,
    cpu: Callable[[], float] | None = None,
    settle: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """trivial, scenario, trivial, ..., scenario, trivial; ratios and latencies per round.

    With `cpu` (the server's CPU seconds so far), also the server's CPU time per request, and
    the ratio of the trivial route's to the scenario's: what the throughput ratio would be
    if the server had the machine to itself and waited on nothing (no lock, no disk).
    `settle` waits, before each run, until the server has served what the last run left
    queued."""
    load = scenario.load
    waited = 0.0

    def calm() -> None:
        nonlocal waited
        if settle:
            waited += settle()

    def trivial_run() -> dict[str, Any]:
        calm()
        return run_wrk(base, TRIVIAL_PATH, load, ["plain"], cpu=cpu)

    if warmup:
        run_wrk(base, TRIVIAL_PATH, load, ["plain"], seconds=warmup)
        calm()
        run_wrk(base, scenario.url_path, load, scenario.args(0), scenario.headers, warmup)
    trivial = [trivial_run()]
    runs = []
    for number in range(1, rounds + 1):
        calm()
        runs.append(
            run_wrk(base, scenario.url_path, load, scenario.args(number), scenario.headers, cpu=cpu)
        )
        trivial.append(trivial_run())
    if any(t["rps"] == 0 for t in trivial):
        raise HarnessError(f"a trivial run around {scenario.name} completed no request")
    ratios = [
        run["rps"] / ((before["rps"] + after["rps"]) / 2)
        for run, before, after in zip(runs, trivial, trivial[1:], strict=False)
    ]
    median = statistics.median(ratios)
    cpu_figures = {}
    measured = [r["server_cpu_ms_per_request"] for r in runs if "server_cpu_ms_per_request" in r]
    if cpu and measured:  # a run too slow to finish any request has no figure
        scenario_cpu = statistics.median(measured)
        trivial_cpu = statistics.median(t["server_cpu_ms_per_request"] for t in trivial)
        cpu_figures = {
            "server_cpu_ms": round(scenario_cpu, 3),
            "trivial_server_cpu_ms": round(trivial_cpu, 3),
            "cpu_ratio": round(trivial_cpu / scenario_cpu, 4) if scenario_cpu else None,
        }
    return {
        "title": scenario.title,
        "path": scenario.url_path,
        "wrk": {
            "threads": load.threads,
            "connections": load.connections,
            "seconds": load.seconds,
            "mode": scenario.script_args[0],
        },
        "ratio": round(median, 4),
        "ratios": [round(r, 4) for r in ratios],
        "budget": scenario.budget,
        "passes": None if scenario.budget is None else median >= scenario.budget,
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "trivial_rps": round(statistics.median(t["rps"] for t in trivial), 1),
        "p50_ms": round(statistics.median(r["latency_us"]["p50"] for r in runs) / 1000, 2),
        "p99_ms": round(statistics.median(r["latency_us"]["p99"] for r in runs) / 1000, 2),
        "trivial_p50_ms": round(
            statistics.median(t["latency_us"]["p50"] for t in trivial) / 1000, 2
        ),
        "trivial_p99_ms": round(
            statistics.median(t["latency_us"]["p99"] for t in trivial) / 1000, 2
        ),
        **cpu_figures,
        "settle_s": round(waited, 1),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["error_count"] for r in runs),
        "trivial_errors": sum(t["error_count"] for t in trivial),
        "wrapped": sum(r["wrapped"] for r in runs),
        "runs": runs,
        "trivial_runs": trivial,
    }
