"""Results: bench/results.json (every figure of the latest run per backend) and one row per
run in BENCHMARKS.md's table; budgets printed with a tick or a cross."""

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

RESULTS = PACKAGE / "results.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
TABLE_START = "<!-- bench:table:start -->"
TABLE_END = "<!-- bench:table:end -->"

# The design's budget (shared/design.md, "Performance budget").
RATIO_BUDGETS = {
    "lesson": 0.40,
    "quiz_submit": 0.20,
    "certificate_download": 0.50,
    "dashboard": 0.05,
    "dashboard_stuck": 0.05,
}
RENDER_WARM_MS = 50.0
MEMORY_GROWTH_MB = 15.0

HEADER = (
    "| date | machine | commit | backend | learners "
    "| lesson ≥ 0.40 | quiz submit ≥ 0.20 | certificate ≥ 0.50 "
    "| dashboard ≥ 0.05 | dashboard stuck ≥ 0.05 | verify | start+submit "
    "| render warm ≤ 50 ms (cold) | memory ≤ 15 MB / 500 | SQL constant | 50 at once |\n"
    "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
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


def verdicts(run: dict[str, Any]) -> dict[str, bool | None]:
    """Each budget: True met, False missed, None not measured."""
    scenarios = run.get("scenarios", {})
    out: dict[str, bool | None] = {}
    for name, budget in RATIO_BUDGETS.items():
        entry = scenarios.get(name)
        out[name] = None if entry is None else entry["ratio"] >= budget
    render = run.get("render") or {}
    out["render_warm"] = (
        None if "warm_median_ms" not in render else render["warm_median_ms"] <= RENDER_WARM_MS
    )
    out["memory"] = (
        None if "memory_growth_mb" not in render else render["memory_growth_mb"] <= MEMORY_GROWTH_MB
    )
    sql = run.get("sql") or {}
    out["sql_constant"] = sql.get("constant")
    return out


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("✓" if ok else "✗")


def summary_lines(run: dict[str, Any]) -> list[str]:
    lines = []
    checks = verdicts(run)
    for name, entry in run.get("scenarios", {}).items():
        budget = entry.get("budget")
        goal = f" (budget ≥ {budget:.2f}) {_mark(checks.get(name))}" if budget else ""
        wrapped = f"  POOL WRAPPED {entry['wrapped']}x" if entry.get("wrapped") else ""
        errors = f"  ERRORS {entry['errors']}" if entry.get("errors") else ""
        cpu = (
            f"  server CPU {entry['server_cpu_ms']:.2f} vs {entry['trivial_server_cpu_ms']:.2f} ms"
            f"/req (ratio {entry['cpu_ratio']:.3f})"
            if entry.get("cpu_ratio")
            else ""
        )
        lines.append(
            f"  {entry['title']:<34} ratio {entry['ratio']:.3f}{goal}  "
            f"{entry['rps']:.0f} req/s vs trivial {entry['trivial_rps']:.0f}  "
            f"p50 {entry['p50_ms']:.1f} ms  p99 {entry['p99_ms']:.1f} ms{cpu}{errors}{wrapped}"
        )
    render = run.get("render") or {}
    if render:
        lines.append(
            f"  certificate render: cold {render['cold_ms']:.0f} ms, warm median "
            f"{render['warm_median_ms']:.1f} ms (CPU {render.get('warm_median_cpu_ms', 0):.1f} ms)"
            f" (budget ≤ {RENDER_WARM_MS:.0f}) "
            f"{_mark(checks['render_warm'])}; memory growth {render['memory_growth_mb']:.1f} MB "
            f"over {render['memory_renders']} renders (budget ≤ {MEMORY_GROWTH_MB:.0f}) "
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
    return lines


def _ratio_cell(run: dict[str, Any], name: str) -> str:
    entry = run.get("scenarios", {}).get(name)
    if entry is None:
        return "-"
    budget = entry.get("budget")
    ratio = entry["ratio"]
    shown = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"
    if budget is None:
        return shown
    return f"{shown} {_mark(ratio >= budget)}"


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
    sync = run.get("synchronized") or {}
    cells = [
        run["date"],
        _machine_cell(run),
        f"`{run['commit']}`",
        run["backend"],
        f"{run['configuration']['learners']:,}",
        _ratio_cell(run, "lesson"),
        _ratio_cell(run, "quiz_submit"),
        _ratio_cell(run, "certificate_download"),
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
        ("✓" if sync.get("ok") else "✗") if sync else "-",
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
    """Add this run's row to the table between the markers (replacing a row of the same
    commit, backend and size from a re-run); create BENCHMARKS.md's table if absent."""
    row = table_row(run)
    key = _row_key(row)
    text = MARKDOWN.read_text() if MARKDOWN.exists() else "# Benchmarks\n"
    if TABLE_START not in text or TABLE_END not in text:
        text = text.rstrip("\n") + f"\n\n{TABLE_START}\n{HEADER}\n{TABLE_END}\n"
    head, rest = text.split(TABLE_START, 1)
    table, tail = rest.split(TABLE_END, 1)
    rows = [
        line
        for line in table.strip("\n").splitlines()
        if line.startswith("| ") and not line.startswith("| date") and _row_key(line) != key
    ]
    rows.append(row)
    body = "\n".join([HEADER, *rows])
    MARKDOWN.write_text(f"{head}{TABLE_START}\n{body}\n{TABLE_END}{tail}")


def _row_key(row: str) -> tuple[str, ...]:
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    # date's day, machine, commit, backend, learners
    return (cells[0][:10], *cells[1:5]) if len(cells) > 5 else tuple(cells)
