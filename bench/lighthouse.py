"""`make lighthouse` (`python -m bench.lighthouse`): Lighthouse on every page of the learner's
journey, signed in, against gunicorn serving the real app on loopback.

Lighthouse 12.2.3 (tools/lighthouse/package.json, installed there by `npm ci`) drives
Debian's chromium (CHROME_PATH) with its default mobile profile (a mid-range phone on a
simulated slow 4G network), one fresh load per page with the session cookie as an extra
header (for the knowledge-check feedback, the cookie its form post set: the session keeps
the answers). Should the check answer its post with the page itself, which the command line
cannot send, tools/lighthouse/flow.mjs submits the section's form in a Lighthouse user flow
with the same settings. Each page runs `--runs` times (3) and keeps its median run. Each is
held to 95 for performance and 100 for accessibility and best practices; the table (scores, and the bytes each page transferred) goes to stdout and into
BENCHMARKS.md between the lighthouse:table markers. Exit status 1 when a page misses a
threshold, 2 when Lighthouse or chromium is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import PACKAGE, ROOT
from bench.database import fresh_database
from bench.environment import app_environment
from bench.pages import LearnerPages, Page, walk
from bench.report import commit
from bench.server import gunicorn

TOOLS = ROOT / "tools" / "lighthouse"
LIGHTHOUSE = TOOLS / "node_modules" / ".bin" / "lighthouse"
FLOW = TOOLS / "flow.mjs"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --no-first-run --disable-sync "
    "--disable-background-networking --disable-component-update"
)
CATEGORIES = ("performance", "accessibility", "best-practices")
THRESHOLDS = {"performance": 95, "accessibility": 100, "best-practices": 100}
REPORTS = PACKAGE / "out" / "lighthouse"  # each page's full JSON report (gitignored)
MARKDOWN = ROOT / "BENCHMARKS.md"
TABLE_START = "<!-- lighthouse:table:start -->"
TABLE_END = "<!-- lighthouse:table:end -->"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lighthouse", description=__doc__)
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs per page, the median (by performance score) kept, as Lighthouse's "
        "variability guide advises (3)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    parser.add_argument(
        "--only", default="", help="comma-separated words: pages whose title holds one"
    )
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(message, flush=True)


def lighthouse_env() -> dict[str, str]:
    return {**os.environ, "CHROME_PATH": CHROMIUM}


def run_page(base: str, path: str, cookie: str, output: Path) -> dict[str, Any]:
    """Lighthouse's command line on one page; its report (lhr)."""
    command = [
        str(LIGHTHOUSE),
        base + path,
        "--output=json",
        f"--output-path={output}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--form-factor=mobile",
        f"--chrome-flags={CHROME_FLAGS}",
        "--extra-headers=" + json.dumps({"Cookie": cookie}),
        "--quiet",
    ]
    done = subprocess.run(
        command, env=lighthouse_env(), capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0 or not output.exists():
        raise RuntimeError(f"lighthouse {path} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(output.read_text())


def run_flow(base: str, path: str, button: str, cookie: str, output: Path) -> dict[str, Any]:
    """The page a form leads to (the knowledge-check feedback): the form submitted in a user
    flow, the navigation measured."""
    command = ["node", str(FLOW), base + path, button, cookie, str(output)]
    done = subprocess.run(
        command,
        cwd=TOOLS,
        env=lighthouse_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not output.exists():
        raise RuntimeError(f"lighthouse flow {path} failed:\n{done.stderr[-3000:]}")
    return json.loads(output.read_text())


def summary(title: str, report: dict[str, Any]) -> dict[str, Any]:
    """A page's scores (0-100), transferred bytes, and the audits that cost it points."""
    if report.get("runtimeError"):
        raise RuntimeError(f"{title}: {report['runtimeError']}")
    scores = {name: round(100 * (report["categories"][name]["score"] or 0)) for name in CATEGORIES}
    audits = report["audits"]
    missed = []
    for name in CATEGORIES:
        for ref in report["categories"][name]["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
                missed.append(f"{name}: {ref['id']} ({audit['score']:.2f}) {audit['title']}")
    return {
        "page": title,
        "url": report["finalDisplayedUrl"],
        "scores": scores,
        "bytes": int(audits["total-byte-weight"]["numericValue"]),
        "metrics": {
            key: round(audits[key]["numericValue"])
            for key in ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time")
        },
        "missed": missed,
        "benchmark_index": round(report["environment"]["benchmarkIndex"]),
        "ok": all(scores[name] >= THRESHOLDS[name] for name in CATEGORIES),
    }


def run_once(base: str, page: Page, output: Path) -> dict[str, Any]:
    """One Lighthouse run of `page`; tried again (twice at most) when Lighthouse itself
    fails to record the load (NO_NAVSTART and the like, which it asks to run again)."""
    for attempt in range(3):
        output.unlink(missing_ok=True)
        try:
            if page.submits:
                report = run_flow(base, page.path, page.submits, page.cookie, output)
            else:
                report = run_page(base, page.path, page.cookie, output)
        except RuntimeError as error:
            if attempt == 2:
                raise
            say(f"    again: {str(error).strip().splitlines()[-1][:160]}")
            continue
        if not report.get("runtimeError") or attempt == 2:
            return report
        say(f"    again: {report['runtimeError']['code']}")
    raise AssertionError("unreachable")


def measure(base: str, journey: LearnerPages, only: set[str], runs: int) -> list[dict]:
    results = []
    for number, page in enumerate(journey.pages, 1):
        if only and not any(word in page.title for word in only):
            continue
        name = f"{number:02d}-{page.title.replace(':', '').replace(' ', '-')}"
        say(f"  lighthouse: {page.title} ({page.path})")
        summaries = [
            summary(page.title, run_once(base, page, REPORTS / f"{name}-{run}.json"))
            for run in range(1, runs + 1)
        ]
        # The median run by performance score: the others are other load on the machine.
        ranked = sorted(summaries, key=lambda entry: entry["scores"]["performance"])
        chosen = ranked[(len(ranked) - 1) // 2]
        chosen["runs"] = [entry["scores"]["performance"] for entry in summaries]
        results.append(chosen)
    return results


def chromium_version() -> str:
    try:
        done = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "chromium"
    return done.stdout.strip()


def lighthouse_version() -> str:
    package = TOOLS / "node_modules" / "lighthouse" / "package.json"
    return json.loads(package.read_text())["version"]


def _mark(score: int, name: str) -> str:
    return f"{score}" + ("" if score >= THRESHOLDS[name] else " ✗")


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| page | performance ≥ 95 (each run) | accessibility = 100 | best practices = 100 "
        "| transferred | FCP / LCP / TBT ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for entry in results:
        scores, metrics = entry["scores"], entry["metrics"]
        runs = entry.get("runs", [])
        each = f" ({', '.join(map(str, runs))})" if len(runs) > 1 else ""
        lines.append(
            f"| {entry['page']} | {_mark(scores['performance'], 'performance')}{each} "
            f"| {_mark(scores['accessibility'], 'accessibility')} "
            f"| {_mark(scores['best-practices'], 'best-practices')} "
            f"| {entry['bytes']:,} B "
            f"| {metrics['first-contentful-paint']:,} / {metrics['largest-contentful-paint']:,}"
            f" / {metrics['total-blocking-time']:,} |"
        )
    return lines


def heading(results: list[dict[str, Any]], runs: int) -> str:
    moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    indexes = sorted(entry["benchmark_index"] for entry in results)
    return (
        f"Latest run: {moment}, commit `{commit()}`, Lighthouse {lighthouse_version()} "
        f"({chromium_version()}), default mobile profile (simulated slow 4G, CPU 4x slower), "
        f"signed in, on loopback; the median of {runs} run(s) per page by performance. "
        f"Host CPU benchmark index {indexes[0]}-{indexes[-1]} (load average "
        f"{os.getloadavg()[0]:.1f} at the end). Transferred: every byte of a first visit "
        "(the page, its stylesheet, its favicon) as Lighthouse's `total-byte-weight` counts it."
    )


def write_markdown(lines: list[str]) -> None:
    """Replace the table between the markers (added at the end when absent)."""
    text = MARKDOWN.read_text() if MARKDOWN.exists() else "# Benchmarks\n"
    if TABLE_START not in text or TABLE_END not in text:
        text = text.rstrip("\n") + f"\n\n{TABLE_START}\n{TABLE_END}\n"
    head, rest = text.split(TABLE_START, 1)
    _old, tail = rest.split(TABLE_END, 1)
    body = "\n".join(lines)
    MARKDOWN.write_text(f"{head}{TABLE_START}\n{body}\n{TABLE_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not LIGHTHOUSE.exists():
        say(f"{LIGHTHOUSE} is missing: `make lighthouse` installs it (npm ci in {TOOLS})")
        return 2
    if not Path(CHROMIUM).exists():
        say(f"{CHROMIUM} is missing: sudo apt-get install chromium")
        return 2
    only = {word for word in args.only.split(",") if word}
    REPORTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="learnapp-lighthouse-") as tmp:
        workdir = Path(tmp)
        with fresh_database(workdir) as (url, _backend):
            env = app_environment(url, workdir)
            subprocess.run(
                [sys.executable, "-m", "flask", "--app", "learnapp", "db", "upgrade"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            # The app in this process signs the cookies the server accepts (same key).
            os.environ.update(env)
            from learnapp import create_app
            from learnapp.db import dispose

            app = create_app()
            try:
                with gunicorn(env, workdir, workers=2) as server:
                    say(f"  walking a learner through {server.base}")
                    journey = walk(app, server.base)
                    results = measure(server.base, journey, only, args.runs)
            finally:
                dispose(app)
    lines = [heading(results, args.runs), "", *table(results)]
    say("\n".join(lines))
    missed = [entry for entry in results if not entry["ok"]]
    for entry in missed:
        say(f"  {entry['page']} missed a threshold:")
        for line in entry["missed"]:
            say(f"    {line}")
    if not args.no_record and not only:
        write_markdown(lines)
        say(f"  recorded in {MARKDOWN.name}; full reports in {REPORTS.relative_to(ROOT)}/")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
