"""The app as the benchmark serves it: learnapp's own create_app(), plus one trivial route.

`/bench/trivial` goes through the same Flask app, WSGI middleware, before/after-request hooks
and security headers as every page; it only skips the view's own work. The app itself is not
changed: the route is added here, on the instance gunicorn serves.
"""

from __future__ import annotations

from learnapp import create_app

app = create_app()


@app.get("/bench/trivial")
def bench_trivial() -> str:
    return "ok"
