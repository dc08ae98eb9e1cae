"""The soak run behind `make soak`: many learners through two gunicorn instances on one
PostgreSQL database, one instance killed midway, then the database checked row by row.

Not part of the unit suite: it takes a few minutes and needs a PostgreSQL server.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = "spinal-muscle-spasm"
HOST = "127.0.0.1"  # all traffic stays on this machine
