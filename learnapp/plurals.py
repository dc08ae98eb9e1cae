"""Counts in words, as messages say them: "1 lesson", "3 lessons", "2 quizzes"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun that agrees with it; `plural` when it is not `singular` + "s"."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count} {noun}"
