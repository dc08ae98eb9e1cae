"""Results: bench/results.json (every figure of the latest run per backend) and one row per
run in BENCHMARKS.md's table; guard rails printed with what they hold the run to, and a tick
or a cross."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import PACKAGE, ROOT
from bench.reference import same_host

RESULTS = PACKAGE / "results.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
TABLE_START = "<!-- bench:table:start -->"
TABLE_END = "<!-- bench:table:end -->"

# Issue 17's guard rails. The server's CPU time per request of these scenarios is at most
# this many times the reference run's (b7252b1, the tuned data path, on the same host and
# backend: bench/reference.py).
CPU_RAILS = {"lesson": 1.5, "certificate_download": 1.5, "quiz_submit": 1.5}
# Throughput ratio to the trivial route, at least.
RATIO_FLOORS = {"dashboard": 0.05, "dashboard_stuck": 0.05}
RENDER_WARM_MS = 50.0
MEMORY_GROWTH_MB = 15.0  # over 500 renders (100 in a quick run)
CLASS_P99_MS = {"postgresql": 250.0}  # the class's p99; SQLite's is reported

HEADER = (
    "| date | machine | commit | backend | learners "
    "| lesson CPU ms/req ≤ 1.5 x ref | certificate CPU ≤ 1.5 x ref | quiz submit CPU ≤ 1.5 x ref "
    "| dashboard ≥ 0.05 | dashboard stuck ≥ 0.05 | verify | start+submit "
    "| render warm ≤ 50 ms (cold) | memory ≤ 15 MB / 500 | SQL constant | 50 at once "
    "| a class: p50 / p95 / p99 ms, errors (PostgreSQL p99 ≤ 250) |\n"
    "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
)


def machine() -> dict[str, Any]:
    return {
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "load_average_at_start": os.getloadavg(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit() -> str:
    """The commit measured: `git rev-parse --short HEAD`, "+dirty" when learnapp/ has
    uncommitted changes; BENCH_COMMIT overrides it (a run from an exported copy of a commit)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "learnapp"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


TITLES = {
    "lesson": "lesson page",
    "certificate_download": "certificate download",
    "quiz_submit": "quiz submit",
    "dashboard": "dashboard, first page",
    "dashboard_stuck": "dashboard, ?state=stuck",
}


def cpu_limit(run: dict[str, Any], name: str) -> tuple[float, float] | None:
    """(the reference's server CPU ms per request, the most this run may take) for a CPU
    rail; None when the reference has no figure for it."""
    reference = (run.get("reference") or {}).get("scenarios", {}).get(name, {})
    if reference.get("server_cpu_ms") is None:
        return None
    return reference["server_cpu_ms"], CPU_RAILS[name] * reference["server_cpu_ms"]


def _to_trivial(run: dict[str, Any], name: str) -> float | None:
    """A scenario's server CPU per request over the trivial route's in the same run."""
    entry = run.get("scenarios", {}).get(name) or {}
    if not entry.get("server_cpu_ms") or not entry.get("trivial_server_cpu_ms"):
        return None
    return entry["server_cpu_ms"] / entry["trivial_server_cpu_ms"]


def verdicts(run: dict[str, Any]) -> dict[str, bool | None]:
    """Each guard rail: True met, False missed, None not measured (or, for a CPU rail, no
    reference to compare with)."""
    scenarios = run.get("scenarios", {})
    out: dict[str, bool | None] = {}
    for name in CPU_RAILS:
        entry, limit = scenarios.get(name) or {}, cpu_limit(run, name)
        measured = entry.get("server_cpu_ms")
        out[name] = None if measured is None or limit is None else measured <= limit[1]
    for name, floor in RATIO_FLOORS.items():
        entry = scenarios.get(name)
        out[name] = None if entry is None else entry["ratio"] >= floor
    render = run.get("render") or {}
    out["render_warm"] = (
        None if "warm_median_ms" not in render else render["warm_median_ms"] <= RENDER_WARM_MS
    )
    out["memory"] = (
        None if "memory_growth_mb" not in render else render["memory_growth_mb"] <= MEMORY_GROWTH_MB
    )
    sql = run.get("sql") or {}
    out["sql_constant"] = sql.get("constant")
    sync = run.get("synchronized") or {}
    out["fifty_at_once"] = sync.get("ok") if sync else None
    klass = run.get("class") or {}
    out["class_errors"] = klass.get("ok") if klass else None
    limit = CLASS_P99_MS.get(run.get("backend", ""))
    out["class_p99"] = (
        None if limit is None or klass.get("p99_ms") is None else klass["p99_ms"] <= limit
    )
    return out


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("✓" if ok else "✗")


def _reference_heading(run: dict[str, Any]) -> list[str]:
    reference = run.get("reference")
    backend = run.get("backend", "?")
    if not reference:
        return [
            f"  Guard rails (no reference run for {backend}: the CPU rails are not checked; "
            "see bench/reference.py):"
        ]
    configuration = reference.get("configuration", {})
    size = configuration.get("learners")
    lines = [
        f"  Guard rails (CPU reference: {reference['commit']} on {backend}, {reference['date']}, "
        f"{reference.get('machine', {}).get('cpu', '?')}"
        + (f", {size:,} learners" if size else "")
        + (" quick" if configuration.get("quick") else "")
        + "):"
    ]
    if run.get("machine") and not same_host(reference, run["machine"]):
        lines.append(
            f"    NOTE: the reference ran on another host ({reference['machine'].get('cpu')}, "
            f"{reference['machine'].get('cores')} cores): its CPU figures are not comparable"
        )
    return lines


def rails_lines(run: dict[str, Any]) -> list[str]:
    """What the run is held to, each rail with its figure and a tick or a cross once
    measured (a dash before)."""
    checks = verdicts(run)
    scenarios = run.get("scenarios", {})
    lines = _reference_heading(run)
    for name, factor in CPU_RAILS.items():
        limit = cpu_limit(run, name)
        held = (
            f"≤ {factor} x {limit[0]:.2f} = {limit[1]:.2f} ms/req"
            if limit
            else f"≤ {factor} x the reference's"
        )
        measured = (scenarios.get(name) or {}).get("server_cpu_ms")
        figure = "not measured" if measured is None else f"{measured:.2f} ms/req"
        if measured is not None and limit:
            figure += f" ({measured / limit[0]:.2f} x the reference's"
            normalised = _to_trivial(run, name), _to_trivial(run.get("reference") or {}, name)
            if None not in normalised:
                # A diagnostic, not the rail: other load on the host raises both sides.
                figure += f"; {normalised[0]:.2f} x its trivial route, against {normalised[1]:.2f}"
            figure += ")"
        lines.append(
            f"    {TITLES[name]:<24} server CPU {figure}, held to {held} {_mark(checks[name])}"
        )
    for name, floor in RATIO_FLOORS.items():
        entry = scenarios.get(name)
        figure = "not measured" if entry is None else f"{entry['ratio']:.3f}"
        lines.append(
            f"    {TITLES[name]:<24} ratio to the trivial route {figure}, held to ≥ {floor} "
            f"{_mark(checks[name])}"
        )
    render = run.get("render") or {}
    warm = f"{render['warm_median_ms']:.1f} ms" if render else "not measured"
    growth = (
        f"{render['memory_growth_mb']:.1f} MB over {render['memory_renders']} renders"
        if render
        else "not measured"
    )
    lines.append(
        f"    {'certificate render':<24} warm median {warm}, held to ≤ {RENDER_WARM_MS:.0f} ms "
        f"{_mark(checks['render_warm'])}"
    )
    lines.append(
        f"    {'render memory':<24} growth {growth}, held to ≤ {MEMORY_GROWTH_MB:.0f} MB "
        f"over 500 {_mark(checks['memory'])}"
    )
    lines.append(
        f"    {'SQL statements':<24} constant in cohort size {_mark(checks['sql_constant'])}"
    )
    lines.append(
        f"    {'fifty at once':<24} no error, each attempt recorded once "
        f"{_mark(checks['fifty_at_once'])}"
    )
    klass = run.get("class") or {}
    errors = "not measured" if not klass else f"{klass['errors']} errors"
    limit = CLASS_P99_MS.get(run.get("backend", ""))
    p99 = "not measured" if klass.get("p99_ms") is None else f"{klass['p99_ms']:.0f} ms"
    tail = (
        f"p99 {p99}, held to ≤ {limit:.0f} ms {_mark(checks['class_p99'])}"
        if limit
        else f"p99 {p99} (reported; no rail on {run.get('backend', '?')})"
    )
    lines.append(
        f"    {'a class':<24} {errors}, held to 0 and every attempt recorded once "
        f"{_mark(checks['class_errors'])}; {tail}"
    )
    return lines


def summary_lines(run: dict[str, Any]) -> list[str]:
    lines = []
    checks = verdicts(run)
    for name, entry in run.get("scenarios", {}).items():
        goal = ""
        if name in CPU_RAILS and cpu_limit(run, name):
            goal = f" (CPU ≤ {cpu_limit(run, name)[1]:.2f} ms/req) {_mark(checks.get(name))}"
        elif name in RATIO_FLOORS:
            goal = f" (ratio ≥ {RATIO_FLOORS[name]:.2f}) {_mark(checks.get(name))}"
        wrapped = f"  POOL WRAPPED {entry['wrapped']}x" if entry.get("wrapped") else ""
        errors = f"  ERRORS {entry['errors']}" if entry.get("errors") else ""
        cpu = (
            f"  server CPU {entry['server_cpu_ms']:.2f} vs {entry['trivial_server_cpu_ms']:.2f} ms"
            f"/req (ratio {entry['cpu_ratio']:.3f})"
            if entry.get("cpu_ratio")
            else ""
        )
        lines.append(
            f"  {entry['title']:<34} ratio {entry['ratio']:.3f}  "
            f"{entry['rps']:.0f} req/s vs trivial {entry['trivial_rps']:.0f}  "
            f"p50 {entry['p50_ms']:.1f} ms  p99 {entry['p99_ms']:.1f} ms{cpu}{goal}{errors}{wrapped}"
        )
    render = run.get("render") or {}
    if render:
        lines.append(
            f"  certificate render: cold {render['cold_ms']:.0f} ms, warm median "
            f"{render['warm_median_ms']:.1f} ms (CPU {render.get('warm_median_cpu_ms', 0):.1f} ms)"
            f" (≤ {RENDER_WARM_MS:.0f}) "
            f"{_mark(checks['render_warm'])}; memory growth {render['memory_growth_mb']:.1f} MB "
            f"over {render['memory_renders']} renders (≤ {MEMORY_GROWTH_MB:.0f}) "
            f"{_mark(checks['memory'])}"
        )
    sql = run.get("sql") or {}
    if sql:
        big, small = sql.get("large", {}), sql.get("small", {})
        parts = []
        for page, entry in big.items():
            other = small.get(page)
            also = f"/{other['statements']}" if other else ""
            parts.append(f"{page} {entry['statements']}{also}")
        lines.append(
            f"  SQL statements per page at {sql.get('large_learners')}"
            f"/{sql.get('small_learners')} learners: " + ", ".join(parts)
        )
        lines.append(f"  SQL constant in cohort size: {_mark(sql.get('constant'))}")
    sync = run.get("synchronized") or {}
    if sync:
        lines.append(
            f"  {sync['learners']} learners at once: starts ok {sync['starts_ok']}, submits ok "
            f"{sync['submits_ok']}, errors {sync['non_2xx_3xx'] + sync['client_errors']}, "
            f"'database is locked' {sync['locked_in_responses'] + sync['locked_in_log']}, "
            f"attempts recorded once with answers {sync['attempts_closed_with_all_answers']}"
            f" {_mark(sync['ok'])}"
        )
    klass = run.get("class") or {}
    if klass:
        lines.append(
            f"  a class ({klass['cohorts']} cohorts of {klass['learners_per_cohort']} within "
            f"{klass['window_s']:.0f} s, {len(klass['servers'])} servers): "
            f"{klass['requests']} requests, p50 {klass['p50_ms']} ms, p95 {klass['p95_ms']} ms, "
            f"p99 {klass['p99_ms']} ms (starts p99 {klass['start']['p99_ms']}, submits p99 "
            f"{klass['submit']['p99_ms']}), errors {klass['errors']}, cohort progress_version "
            f"raised {klass['progress_version_raised_min']}-{klass['progress_version_raised_max']}"
            f" {_mark(checks['class_errors'])}"
        )
    return lines


def _ratio_cell(run: dict[str, Any], name: str) -> str:
    entry = run.get("scenarios", {}).get(name)
    if entry is None:
        return "-"
    ratio = entry["ratio"]
    shown = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"
    if name not in RATIO_FLOORS:
        return shown
    return f"{shown} {_mark(ratio >= RATIO_FLOORS[name])}"


def _cpu_cell(run: dict[str, Any], name: str) -> str:
    measured = (run.get("scenarios", {}).get(name) or {}).get("server_cpu_ms")
    if measured is None:
        return "-"
    limit = cpu_limit(run, name)
    if limit is None:
        return f"{measured:.2f}"
    return f"{measured:.2f} ({measured / limit[0]:.2f} x) {_mark(measured <= limit[1])}"


def _class_cell(run: dict[str, Any]) -> str:
    klass = run.get("class") or {}
    if not klass:
        return "-"
    checks = verdicts(run)
    p99 = f"{klass['p99_ms']:.0f}"
    if checks["class_p99"] is not None:
        p99 += f" {_mark(checks['class_p99'])}"
    return (
        f"{klass['p50_ms']:.0f} / {klass['p95_ms']:.0f} / {p99}, "
        f"{klass['errors']} {_mark(checks['class_errors'])}"
    )


def _machine_cell(run: dict[str, Any]) -> str:
    """The machine, and how fast it served the trivial route: the ratios of runs are
    comparable only on like machines (a trivial route at 2,000 req/s on one host, 4,500 on
    another, with the ratios moving by as much as 0.05)."""
    m = run["machine"]
    cell = f"{m.get('cpu', m['arch'])}, {m['cores']} cores, Python {m['python']}"
    trivial = [e["trivial_rps"] for e in run.get("scenarios", {}).values() if "trivial_rps" in e]
    if trivial:
        cell += f"; trivial route {statistics.median(trivial):,.0f} req/s"
    return cell


def table_row(run: dict[str, Any]) -> str:
    checks = verdicts(run)
    render = run.get("render") or {}
    cells = [
        run["date"],
        _machine_cell(run),
        f"`{run['commit']}`",
        run["backend"],
        f"{run['configuration']['learners']:,}",
        _cpu_cell(run, "lesson"),
        _cpu_cell(run, "certificate_download"),
        _cpu_cell(run, "quiz_submit"),
        _ratio_cell(run, "dashboard"),
        _ratio_cell(run, "dashboard_stuck"),
        _ratio_cell(run, "verify"),
        _ratio_cell(run, "quiz_cycle"),
        f"{render['warm_median_ms']:.0f} ms {_mark(checks['render_warm'])} "
        f"({render['cold_ms']:.0f} ms)"
        if render
        else "-",
        f"{render['memory_growth_mb']:.1f} MB {_mark(checks['memory'])}" if render else "-",
        _mark(checks["sql_constant"]),
        _mark(checks["fifty_at_once"]),
        _class_cell(run),
    ]
    if run["configuration"].get("quick"):
        cells[4] += " (quick)"
    return "| " + " | ".join(cells) + " |"


def write_json(run: dict[str, Any]) -> None:
    """Keep the latest run of each backend."""
    runs: list[dict[str, Any]] = []
    if RESULTS.exists():
        try:
            runs = json.loads(RESULTS.read_text()).get("runs", [])
        except (ValueError, AttributeError):
            runs = []
    runs = [r for r in runs if r.get("backend") != run["backend"]] + [run]
    RESULTS.write_text(json.dumps({"runs": runs}, indent=2, ensure_ascii=False) + "\n")


def write_markdown(run: dict[str, Any]) -> None:
    """Add this run's row, and its reference run's, to the table between the markers
    (replacing a row of the same day, machine, commit, backend and size from a re-run);
    create BENCHMARKS.md's table if absent."""
    new_rows = [table_row(run)]
    if run.get("reference"):
        new_rows.insert(0, table_row(run["reference"]))
    keys = {_row_key(row) for row in new_rows}
    text = MARKDOWN.read_text() if MARKDOWN.exists() else "# Benchmarks\n"
    if TABLE_START not in text or TABLE_END not in text:
        text = text.rstrip("\n") + f"\n\n{TABLE_START}\n{HEADER}\n{TABLE_END}\n"
    head, rest = text.split(TABLE_START, 1)
    table, tail = rest.split(TABLE_END, 1)
    rows = [
        line
        for line in table.strip("\n").splitlines()
        if line.startswith("| ") and not line.startswith("| date") and _row_key(line) not in keys
    ]
    rows += new_rows
    body = "\n".join([HEADER, *rows])
    MARKDOWN.write_text(f"{head}{TABLE_START}\n{body}\n{TABLE_END}{tail}")


def _row_key(row: str) -> tuple[str, ...]:
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    # date's day, machine, commit, backend, learners
    return (cells[0][:10], *cells[1:5]) if len(cells) > 5 else tuple(cells)
