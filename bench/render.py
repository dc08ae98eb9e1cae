"""Certificate rendering in one process, as a worker renders: cold (the first render,
importing WeasyPrint and making the process's FontConfiguration), warm (the median of the
next ones) and memory growth (RSS) over many renders.

Run by the benchmark as `python -m bench.render N_WARM N_MEMORY` in a process of its own, so
that "cold" really is cold; prints one JSON object. The app's configuration comes from the
LEARNAPP_* environment the benchmark sets.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1])
    return resident * PAGE_SIZE / 2**20


def fields(number: int) -> dict[str, Any]:
    from learnapp import certificate_pdf, certificates

    code = certificates.new_code()
    names = ("Siobhán O'Sullivan", "Nguyễn Thu Hà", "王芳", "محمد حداد", "Γιώργος Οικονόμου")
    return {
        "name": names[number % len(names)],
        "lesson_title": "Spinal muscle spasm: what are the causes?",
        "score": 87.5,
        "issued_on": datetime(2025, 1, 15, tzinfo=UTC).date(),
        "valid_until": datetime(2028, 1, 15, tzinfo=UTC).date(),
        "duration": certificate_pdf.duration_text(65),
        "organisation": "learnapp first-aid training",
        # A letterhead as full as a deployment's: two lines of address, the default logo.
        "issuer_address": ["12 Example Street", "Red Valley RV1 2AB"],
        "issuer_logo": "img/issuer-logo.svg",
        "signatory": ["For the issuing organisation"],
        "assessor": None,
        "code": code,
        "revision": 1,
        "verify_url": f"https://learn.example.org/verify/{code}",
    }


def main(warm: int, memory: int) -> dict[str, Any]:
    started = time.perf_counter()
    from learnapp import certificate_pdf, create_app

    app = create_app()
    app_ms = (time.perf_counter() - started) * 1000
    results: dict[str, Any] = {"create_app_ms": round(app_ms, 1)}
    with app.test_request_context("/"):
        before = rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        pdf = certificate_pdf.render(fields(0))
        results["cold_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        results["cold_cpu_ms"] = round((time.process_time() - c0) * 1000, 1)
        results["pdf_bytes"] = len(pdf)
        results["rss_before_first_render_mb"] = round(before, 1)
        times, cpu_times = [], []
        for number in range(1, warm + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            certificate_pdf.render(fields(number))
            times.append((time.perf_counter() - t0) * 1000)
            cpu_times.append((time.process_time() - c0) * 1000)
        results["warm_renders"] = warm
        results["warm_median_ms"] = round(statistics.median(times), 1)
        # CPU time: what the render costs when the machine is shared with other work.
        results["warm_median_cpu_ms"] = round(statistics.median(cpu_times), 1)
        results["warm_p90_ms"] = round(statistics.quantiles(times, n=10)[-1], 1)
        results["warm_min_ms"] = round(min(times), 1)
        # Growth is measured from here, after the first renders have filled the caches a
        # worker keeps for its lifetime (fonts, templates).
        start_rss = rss_mb()
        samples = [(0, round(start_rss, 1))]
        for number in range(1, memory + 1):
            certificate_pdf.render(fields(number))
            if number % 100 == 0:
                samples.append((number, round(rss_mb(), 1)))
        end_rss = rss_mb()
        results["memory_renders"] = memory
        results["rss_start_mb"] = round(start_rss, 1)
        results["rss_end_mb"] = round(end_rss, 1)
        results["memory_growth_mb"] = round(end_rss - start_rss, 1)
        results["rss_samples"] = samples
    return results


if __name__ == "__main__":
    warm_count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    memory_count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    print(json.dumps(main(warm_count, memory_count)))
