"""`python -m bench [--learners N] [--quick]`: seed, serve, measure, record.

Exit status: 0 when the benchmark ran (guard rails missed or not: they are printed), 2 when
wrk is missing, 1 on any other harness error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import ROOT, classroom, reference, report
from bench.database import ENV_URL, fresh_database
from bench.environment import app_environment
from bench.fixtures import LESSON, START_PATH, Fixtures, classes, find_fixtures, ready_learners
from bench.wrk import HarnessError, Load, Scenario, measure, require_wrk

# What --only can name besides the wrk scenarios (bench.__main__.scenarios).
PARTS = ("sql", "render", "fifty", "class")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--learners", type=int, default=10_000, help="demo cohort size")
    parser.add_argument(
        "--small-learners", type=int, default=50, help="a second cohort, to show SQL constancy"
    )
    parser.add_argument("--quick", action="store_true", help="short runs, fewer renders")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (3)")
    parser.add_argument("--seconds", type=float, default=None, help="wrk seconds per run (5)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts to run: wrk scenarios (lesson, quiz_submit, quiz_cycle, "
        f"certificate_download, verify, dashboard, dashboard_stuck) and {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=reference.REFERENCE,
        help="the run the CPU guard rails compare with: a reference.json or the results.json "
        "of a run at the reference commit (default: bench/reference.json)",
    )
    parser.add_argument(
        "--class-cohorts", type=int, default=classroom.COHORTS, help="a class: cohorts (20)"
    )
    parser.add_argument(
        "--class-size", type=int, default=classroom.SIZE, help="a class: learners per cohort (30)"
    )
    parser.add_argument(
        "--class-window",
        type=float,
        default=classroom.WINDOW_S,
        help="a class: the seconds within which the cohorts arrive (60)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write results")
    args = parser.parse_args(argv)
    args.chosen = {name for name in args.only.split(",") if name}
    args.rounds = args.rounds or 3
    args.seconds = args.seconds or (2.0 if args.quick else 5.0)
    args.warm_renders = 20 if args.quick else 50
    args.memory_renders = 100 if args.quick else 500
    args.sync_learners = 50
    return args


def python_module(env: dict[str, str], *arguments: str) -> str:
    """Run `python -m ARGUMENTS` in the app's environment; its output, or HarnessError."""
    done = subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(
            f"{' '.join(arguments)} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def flask(env: dict[str, str], *command: str) -> float:
    """A flask command; the seconds it took."""
    started = time.monotonic()
    python_module(env, "flask", "--app", "learnapp", *command)
    return round(time.monotonic() - started, 1)


def wanted(args: argparse.Namespace, part: str) -> bool:
    return not args.chosen or part in args.chosen


def say(message: str) -> None:
    print(message, flush=True)


def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def scenarios(
    fx: Fixtures,
    workdir: Path,
    pools: list[list[dict[str, Any]]],
    cycle: list[dict[str, Any]],
    seconds: float,
) -> list[Scenario]:
    lesson_paths = write_lines(
        workdir / "lesson-paths.tsv",
        [f"/lessons/{LESSON}/sections/{slug}\t{fx.learner.cookie}" for slug in fx.section_slugs],
    )
    pool_files = [
        write_lines(
            workdir / f"submit-pool-{n}.tsv",
            [
                f"/quizzes/attempts/{e['attempt_id']}\t{e['login'].cookie}\t{e['body']}"
                for e in pool
            ],
        )
        for n, pool in enumerate(pools)
    ]
    cycle_file = write_lines(
        workdir / "cycle-learners.tsv", [f"{e['login'].cookie}\t{e['login'].csrf}" for e in cycle]
    )
    dashboard = f"/instructor/cohorts/{fx.cohort_id}"
    # A dashboard page takes long: twice the time, for enough requests in a run.
    slow = Load(seconds=2 * seconds)
    return [
        Scenario(
            "lesson",
            "lesson page (learner)",
            f"/lessons/{LESSON}/sections/{fx.section_slugs[0]}",
            ["paths", lesson_paths],
            load=Load(seconds=seconds),
        ),
        Scenario(
            "quiz_submit",
            "final quiz submit (full answers)",
            "/quizzes/attempts/0",
            load=Load(seconds=seconds),
            args_for_run=lambda n: ["posts", pool_files[n]],
        ),
        Scenario(
            "quiz_cycle",
            "final quiz start+submit cycle",
            START_PATH,
            ["cycle", cycle_file, START_PATH],
            load=Load(threads=8, connections=8, seconds=seconds),
        ),
        Scenario(
            "certificate_download",
            "certificate PDF download (owner)",
            f"/certificates/{fx.certificate_code}/pdf",
            headers=[f"Cookie: {fx.owner.cookie}"],
            load=Load(seconds=seconds),
        ),
        Scenario(
            "verify",
            "verify page (public)",
            f"/verify/{fx.certificate_code}",
            load=Load(seconds=seconds),
        ),
        Scenario(
            "dashboard",
            f"dashboard, first page ({fx.cohort_size:,})",
            dashboard,
            headers=[f"Cookie: {fx.instructor.cookie}"],
            load=slow,
            budget=report.RATIO_FLOORS["dashboard"],
        ),
        Scenario(
            "dashboard_stuck",
            f"dashboard, ?state=stuck ({fx.cohort_size:,})",
            f"{dashboard}?state=stuck",
            headers=[f"Cookie: {fx.instructor.cookie}"],
            load=slow,
            budget=report.RATIO_FLOORS["dashboard_stuck"],
        ),
    ]


def sql_counts(app: Any, fx: Fixtures, args: argparse.Namespace) -> dict[str, Any]:
    from bench import sqlcount
    from learnapp.demo import seed_cohort

    large = sqlcount.count_pages(app, fx)
    ready = ready_learners(app, 1, "sql-start")
    pooled = ready_learners(app, 1, "sql-submit", open_attempts=True)
    large |= sqlcount.count_quiz(app, ready[0], pooled[0])
    small: dict[str, Any] = {}
    if args.small_learners:
        with app.app_context():
            session = app.extensions["learnapp.sessionmaker"]()
            try:
                cohort_id = seed_cohort(session, args.small_learners, seed=7).id
            finally:
                session.close()
        small = sqlcount.count_pages(app, find_fixtures(app, cohort_id))
    compared = [page for page in small if page in large]
    constant = all(large[p]["statements"] == small[p]["statements"] for p in compared)
    expected = {"quiz_start": 302, "quiz_submit": 302}
    wrong = [
        f"{size} {page}: {entry['status']}"
        for size, counted in (("large", large), ("small", small))
        for page, entry in counted.items()
        if entry["status"] != expected.get(page, 200)
    ]
    if wrong:
        raise HarnessError(f"pages answered unexpectedly while counting SQL: {wrong}")
    return {
        "large_learners": fx.cohort_size,
        "small_learners": args.small_learners,
        "large": large,
        "small": small,
        "constant": constant if compared else None,
    }


def render_bench(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    output = python_module(env, "bench.render", str(args.warm_renders), str(args.memory_renders))
    return json.loads(output.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench import synchronized
    from bench.server import WORKERS, gunicorn

    result: dict[str, Any] = {
        "date": report.now(),
        "machine": report.machine(),
        "commit": report.commit(),
    }
    timings: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="learnapp-bench-") as tmp,
        fresh_database(Path(tmp)) as (url, backend),
    ):
        workdir = Path(tmp)
        result["backend"] = backend
        result["reference"] = reference.load(args.reference, backend)
        say(f"learnapp bench: {backend}, {args.learners:,} learners, commit {result['commit']}")
        for line in report.rails_lines(result):
            say(line)
        env = app_environment(url, workdir)
        say("  seeding: flask db upgrade, flask demo --learners ...")
        timings["db_upgrade_s"] = flask(env, "db", "upgrade")
        timings["demo_seed_s"] = flask(env, "demo", "--learners", str(args.learners))
        say(f"  seeded in {timings['demo_seed_s']:.0f} s")

        os.environ.update(env)
        from learnapp import create_app
        from learnapp.db import dispose, get_engine

        app = create_app()
        try:
            fx = find_fixtures(app)
            t0 = time.monotonic()
            # One pool of pre-opened attempts per wrk run (the warm-up is run 0).
            per_run = 2000 if args.quick else 8000
            pools = (
                [
                    ready_learners(app, per_run if n else per_run // 2, f"pool{n}", True, seed=n)
                    for n in range(args.rounds + 1)
                ]
                if wanted(args, "quiz_submit")
                else [[] for _ in range(args.rounds + 1)]
            )
            cycle = ready_learners(app, 240, "cycle") if wanted(args, "quiz_cycle") else []
            # One class: their progress writes all touch the same cohort.
            sync = (
                ready_learners(app, args.sync_learners, "sync", class_of="Arriving together")
                if wanted(args, "fifty")
                else []
            )
            the_class: list[dict[str, Any]] = []
            warm_up: list[list[dict[str, Any]]] = []
            if wanted(args, "class"):
                the_class = classes(app, args.class_cohorts, args.class_size)
                warm_up = [
                    ready_learners(app, 4 * WORKERS, f"warm{n}", class_of=f"Warm-up {n + 1}")
                    for n in range(classroom.SERVERS)
                ]
            timings["fixtures_s"] = round(time.monotonic() - t0, 1)
            if backend == "postgresql":
                # A server in steady state, not one digesting a bulk load: autovacuum keeps
                # statistics fresh (a freshly loaded database has none, and plans the reports
                # blind), and would otherwise vacuum the tens of thousands of rows just
                # inserted, and a checkpoint write them out, in the middle of the runs.
                t0 = time.monotonic()
                with (
                    get_engine(app)
                    .connect()
                    .execution_options(isolation_level="AUTOCOMMIT") as connection
                ):
                    connection.exec_driver_sql("VACUUM (ANALYZE)")
                    connection.exec_driver_sql("CHECKPOINT")
                timings["analyze_s"] = round(time.monotonic() - t0, 1)

            if wanted(args, "sql"):
                say("  counting SQL statements per page")
                result["sql"] = sql_counts(app, fx, args)
            if wanted(args, "render"):
                # Before the load, on a quiet machine: after it, PostgreSQL vacuums and writes
                # out what the runs wrote, on the core the render would share.
                say("  certificate rendering (in a process of its own)")
                result["render"] = render_bench(env, args)

            chosen = [
                s
                for s in scenarios(fx, workdir, pools, cycle, args.seconds)
                if wanted(args, s.name)
            ]
            logs = []
            if chosen or sync:
                with gunicorn(env, workdir) as server:
                    result["server"] = {
                        "command": " ".join(server.command[1:]),
                        "workers": WORKERS,
                    }
                    result["scenarios"] = {}
                    for scenario in chosen:
                        say(f"  wrk: {scenario.title}")
                        entry = measure(
                            server.base,
                            scenario,
                            args.rounds,
                            cpu=server.cpu_seconds,
                            settle=server.settle,
                        )
                        result["scenarios"][scenario.name] = entry
                        say(report.summary_lines({"scenarios": {scenario.name: entry}})[0])
                    result["submit_check"] = _submit_check(app, pools, result["scenarios"])
                    if sync:
                        say(f"  synchronized start: {args.sync_learners} learners")
                        result["synchronized"] = synchronized.run(app, server, sync)
                    logs.append(server.log_text())
            if the_class:
                result["class"], class_logs = run_class(app, env, workdir, the_class, warm_up, args)
                logs += class_logs
            log = "".join(logs)
            result["server_log"] = {
                "tracebacks": log.count("Traceback"),
                "database_is_locked": log.count("database is locked"),
                "tail": log[-3000:] if "Traceback" in log else "",
            }
        finally:
            dispose(app)
    result["configuration"] = {
        "learners": args.learners,
        "small_learners": args.small_learners,
        "quick": args.quick,
        "rounds": args.rounds,
        "wrk_seconds": args.seconds,
        "workers": WORKERS,
        "only": sorted(args.chosen),
        "database": backend if backend == "sqlite" else f"postgresql ({ENV_URL})",
        "vacuum_analyze_checkpoint_after_seeding": backend == "postgresql",
        "limits_lifted": [
            "VERIFY_RATE_LIMIT",
            "LOGIN_FAILURES_PER_ACCOUNT",
            "LOGIN_FAILURES_PER_ADDRESS",
            "JOIN_CODE_FAILURES",
        ],
    }
    result["timings"] = timings
    return result


def run_class(
    app: Any,
    env: dict[str, str],
    workdir: Path,
    the_class: list[dict[str, Any]],
    warm_up: list[list[dict[str, Any]]],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[str]]:
    """A class (bench.classroom) against two gunicorn instances of their own on the same
    database, each warmed first by a class of its own starting and submitting together (so
    that every worker has made its caches, and on PostgreSQL its prepared statements); the
    result, and the servers' logs."""
    from bench import synchronized
    from bench.server import gunicorn

    say(
        f"  a class: {len(the_class)} cohorts of {args.class_size} learners within "
        f"{args.class_window:.0f} s, {classroom.SERVERS} servers"
    )
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(gunicorn(env, workdir)) for _ in range(classroom.SERVERS)]
        warmed = [
            synchronized.run(app, server, learners)
            for server, learners in zip(servers, warm_up, strict=True)
        ]
        entry = classroom.run(app, servers, the_class, window=args.class_window)
        entry["warm_up_ok"] = all(w["ok"] for w in warmed)
        say(report.summary_lines({"class": entry, "backend": "?"})[-1])
        return entry, [server.log_text() for server in servers]


def _submit_check(
    app: Any, pools: list[list[dict[str, Any]]], measured: dict[str, Any]
) -> dict[str, Any]:
    """The submits wrk sent must each have closed one attempt with all its answers."""
    from sqlalchemy import func, select

    from learnapp.models import Answer, QuizAttempt

    if "quiz_submit" not in measured:
        return {}
    ids = [e["attempt_id"] for pool in pools for e in pool]
    session = app.extensions["learnapp.sessionmaker"]()
    try:
        closed = 0
        answered = 0
        for first in range(0, len(ids), 900):
            chunk = ids[first : first + 900]
            closed += session.scalar(
                select(func.count())
                .select_from(QuizAttempt)
                .where(QuizAttempt.id.in_(chunk), QuizAttempt.state == "closed")
            )
            answered += session.scalar(
                select(func.count(func.distinct(Answer.attempt_id))).where(
                    Answer.attempt_id.in_(chunk)
                )
            )
    finally:
        session.close()
    entry = measured["quiz_submit"]
    sent = sum(r["sent"] for r in entry["runs"])
    return {"attempts_closed": closed, "attempts_with_answers": answered, "requests": sent}


def main(argv: list[str] | None = None) -> int:
    # A stop (SIGTERM) unwinds like an error, so that the server and database are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse(argv)
    require_wrk()
    started = time.monotonic()
    try:
        result = run(args)
    except HarnessError as error:
        print(f"bench: harness error: {error}", file=sys.stderr)
        return 1
    except Exception:  # any other failure is the harness's, reported as such
        traceback.print_exc()
        return 1
    result["timings"]["total_s"] = round(time.monotonic() - started, 1)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    say("")
    say(f"Results ({result['backend']}, {args.learners:,} learners):")
    for line in report.summary_lines(result):
        say(line)
    for line in report.rails_lines(result):
        say(line)
    missed = [name for name, ok in report.verdicts(result).items() if ok is False]
    say(f"Guard rails missed: {', '.join(missed)}" if missed else "No guard rail missed.")
    if not args.no_record:
        report.write_json(result)
        report.write_markdown(result)
        say(f"Recorded in {report.RESULTS.relative_to(ROOT)} and BENCHMARKS.md")
    say(f"Total {result['timings']['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
