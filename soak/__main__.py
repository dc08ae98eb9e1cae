"""`python -m soak`: learners through two gunicorn instances, one killed midway, then checks.

Exit status: 0 when every check passed, 1 when one failed or the run could not be made.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import UTC, datetime
from pathlib import Path

from bench.database import scratch_postgres
from bench.environment import app_environment
from learnapp.content import Catalogue, load_content
from soak import HOST, LESSON, ROOT, report
from soak.browser import Browser, Traffic
from soak.checks import Check, verify
from soak.learner import Outcome, journey
from soak.servers import Instance, free_ports

SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
# The production default (learnapp/config.py): about 33 ms of CPU a registration.
PASSWORD_HASH = "Argon2id, m=19 MiB, t=2, p=1"  # noqa: S105 - a hashing method, not a password


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50, help="learners at once")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument(
        "--kill-after", type=float, default=0.4, help="fraction of learners finished"
    )
    parser.add_argument("--time-limit", type=float, default=900, help="seconds for the traffic")
    parser.add_argument("--database", default=SERVER_URL, help="the PostgreSQL server to use")
    parser.add_argument("--no-record", action="store_true", help="do not write the doc")
    args = parser.parse_args(argv)
    if args.learners < 1 or args.concurrency < 1 or args.instances < 2:
        parser.error("at least one learner, one at a time, and two instances")
    return args


def redis_answers(timeout: float = 1) -> bool:
    try:
        with socket.create_connection((HOST, 6379), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def flask(env: dict[str, str], *command: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed command
        [sys.executable, "-m", "flask", "--app", "learnapp", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"flask {' '.join(command)} failed:\n{done.stdout}{done.stderr}")


class Run:
    """The traffic: learners in a pool, one instance killed when enough have finished."""

    def __init__(self, args: argparse.Namespace, catalogue: Catalogue, instances: list[Instance]):
        self.args = args
        self.catalogue = catalogue
        self.instances = instances
        self.traffic = Traffic([i.port for i in instances])
        tag = secrets.token_hex(3)
        self.outcomes = [
            Outcome(n, f"soak-{tag}-{n}@example.com", f"Soak Learner {n}")
            for n in range(args.learners)
        ]
        self.killed_at: float | None = None
        self.finished_at_kill = 0
        self.restart_seconds: float | None = None
        self.timed_out = False

    def go(self, started: float) -> None:
        victim = self.instances[0]
        kill_when = max(1, round(self.args.kill_after * self.args.learners))
        done = 0
        with ThreadPoolExecutor(self.args.concurrency, thread_name_prefix="learner") as pool:
            futures = [
                pool.submit(journey, Browser(self.traffic, first=o.number), self.catalogue, o)
                for o in self.outcomes
            ]
            try:
                for future in as_completed(futures, timeout=self.args.time_limit):
                    future.result()
                    done += 1
                    if self.killed_at is None and done >= kill_when and done < len(futures):
                        self.killed_at = time.monotonic() - started
                        self.finished_at_kill = done
                        print(f"  {done} learners done: SIGKILL {victim.name} (:{victim.port})")
                        victim.kill()
                        self.restart_seconds = victim.start()
                        self.traffic.restarted_at = time.monotonic() - started
                        print(f"  {victim.name} answers again after {self.restart_seconds:.1f} s")
            except FuturesTimeout:
                self.timed_out = True
                self.traffic.stop.set()  # each learner stops at its next request
                print("  time limit reached: stopping the learners")

    def checks(self) -> list[Check]:
        failed = [o for o in self.outcomes if not o.finished]
        victim = self.instances[0]
        served = self.traffic.by_port_after_restart[victim.port]
        return [
            Check(
                "every learner finished the journey",
                not failed and not self.timed_out,
                f"{len(self.outcomes) - len(failed)} of {len(self.outcomes)}"
                + (f"; first errors: {[o.error for o in failed[:3]]}" if failed else ""),
            ),
            Check(
                "no server error",
                not self.traffic.server_errors,
                f"{len(self.traffic.server_errors)} responses 5xx"
                + (f": {self.traffic.server_errors[:3]}" if self.traffic.server_errors else ""),
            ),
            Check(
                "an instance was killed midway and served again after its restart",
                self.killed_at is not None and served > 0,
                f"killed after {self.finished_at_kill} learners; {served} requests served after the restart",
            ),
        ]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def figures(
    run: Run, rows: dict[str, int], duration: float, rate_limits: str, args: argparse.Namespace
) -> list[tuple[str, str]]:
    traffic = run.traffic
    submissions = [s for o in run.outcomes for s in o.submissions]
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(traffic.by_status.items()))
    causes = ", ".join(f"{k} {v}" for k, v in sorted(traffic.retry_causes.items())) or "none"
    ports = ", ".join(f"{i.name} (:{i.port}) {traffic.by_port[i.port]}" for i in run.instances)
    errors = len(traffic.server_errors) + sum(not o.finished for o in run.outcomes)
    return [
        ("Date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Machine", f"{os.cpu_count()} cores, Python {platform.python_version()}"),
        (
            "Servers",
            f"{len(run.instances)} gunicorn instances x {args.workers} sync workers, one PostgreSQL database",
        ),
        ("Rate-limit storage", rate_limits),
        ("Password hash", PASSWORD_HASH),
        ("Learners (at once)", f"{len(run.outcomes)} ({args.concurrency})"),
        ("Learners who finished", str(sum(o.finished for o in run.outcomes))),
        ("Requests answered", str(traffic.requests)),
        ("Requests by instance", ports),
        ("Responses by status", statuses),
        ("Errors (5xx, unfinished journeys)", str(errors)),
        ("Retries after a connection error", f"{traffic.retries} ({causes})"),
        (
            "... of which POSTs",
            f"{traffic.retried_posts} ("
            + (
                ", ".join(f"{k} {v}" for k, v in sorted(traffic.retried_post_kinds.items()))
                or "none"
            )
            + ")",
        ),
        (
            "Submits whose retry found the attempt already submitted",
            str(sum(s.already_submitted for s in submissions)),
        ),
        (
            "Submits answered after a retry",
            str(sum(s.tries > 1 for s in submissions)),
        ),
        (
            "Registrations found stored on retry",
            str(sum(o.registered_on_retry for o in run.outcomes)),
        ),
        (
            "Kill (SIGKILL) at",
            "never"
            if run.killed_at is None
            else f"{run.killed_at:.1f} s, after {run.finished_at_kill} learners finished",
        ),
        (
            "Restart until answering",
            "-" if run.restart_seconds is None else f"{run.restart_seconds:.1f} s",
        ),
        (
            "Latency p50 / p95 / max",
            f"{percentile(traffic.latencies, 0.5) * 1000:.0f} / {percentile(traffic.latencies, 0.95) * 1000:.0f}"
            f" / {max(traffic.latencies, default=0) * 1000:.0f} ms",
        ),
        ("Rows checked", ", ".join(f"{k} {v}" for k, v in rows.items())),
        ("Duration", f"{duration:.0f} s"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    catalogue = load_content(ROOT / "lessons", ROOT / "quizzes")
    draw = catalogue.final_quiz(LESSON).draw
    workdir = Path(tempfile.mkdtemp(prefix="learnapp-soak-"))
    rate_limits = REDIS_URL if redis_answers() else "memory://"
    instances: list[Instance] = []
    run: Run | None = None
    checks: list[Check] = []
    rows: dict[str, int] = {}
    try:
        with scratch_postgres(args.database, "soak") as url:
            env = app_environment(
                url,
                workdir,
                LEARNAPP_RATELIMIT_STORAGE_URL=rate_limits,
            )
            flask(env, "db", "upgrade")
            ports = free_ports(args.instances)
            instances = [
                Instance(chr(ord("a") + n), port, env, workdir, args.workers)
                for n, port in enumerate(ports)
            ]
            for instance in instances:
                seconds = instance.start()
                print(f"  instance {instance.name} on :{instance.port} up in {seconds:.1f} s")
            run = Run(args, catalogue, instances)
            print(f"  {args.learners} learners, {args.concurrency} at a time ...")
            run.go(started)
            for instance in instances:
                instance.stop()
            checks, rows = verify(url, run.outcomes, draw)
            checks = run.checks() + checks
    except Exception:
        traceback.print_exc()
        for instance in instances:
            tail = instance.log_text()[-3000:]
            if tail:
                print(f"--- gunicorn {instance.name} log (end) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        for instance in instances:
            instance.stop()
        if checks and all(c.passed for c in checks):
            shutil.rmtree(workdir, ignore_errors=True)
    duration = time.monotonic() - started
    table = figures(run, rows, duration, rate_limits, args)
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    if not args.no_record:
        report.write(ROOT / "docs" / "reliability.md", table, checks)
        print("figures written to docs/reliability.md")
    if not all(c.passed for c in checks):
        print(f"gunicorn logs kept in {workdir}", file=sys.stderr)
        return 1
    print(
        f"soak passed in {duration:.0f} s; latency median {statistics.median(run.traffic.latencies) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
