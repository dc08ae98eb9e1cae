"""The system fonts a certificate needs for names in each script, found as Pango finds them.

WeasyPrint draws the certificate with Pango, which asks fontconfig for the families the
stylesheet names (static/css/certificate.css) and, for a character none of them has, for any
font that has it. Where fontconfig has no font for a character, the character prints as an
empty box (the .notdef glyph). Standard library only, so that `make check-system` can run it
before the virtualenv exists: `python3 -I learnapp/fonts.py` prints what is missing, if anything.
Set FONTCONFIG_FILE (or pass `env`) to ask another fontconfig set-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    name: str  # as a sentence names its names: "Chinese, Japanese or Korean"
    langs: tuple[str, ...]  # fontconfig languages a font for it covers
    family: str  # the stylesheet's family for it
    package: str  # the Debian package that has that family
    letters: tuple[str, ...]  # how the Unicode names of its characters begin

    @property
    def install(self) -> str:
        return f"sudo apt-get install {self.package}"

    def writes(self, char: str) -> bool:
        return unicodedata.name(char, "").startswith(self.letters)


LATIN = Script("Latin", ("en",), "DejaVu Serif", "fonts-dejavu-core", ("LATIN",))
ARABIC = Script("Arabic", ("ar",), "Noto Sans Arabic", "fonts-noto-core", ("ARABIC",))
CJK = Script(
    "Chinese, Japanese or Korean",
    ("zh-cn", "ja", "ko"),
    "Noto Sans CJK SC",
    "fonts-noto-cjk",
    ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"),
)
SCRIPTS = (LATIN, ARABIC, CJK)


def families(pattern: str, env: Mapping[str, str] | None = None) -> list[str] | None:
    """The families of the fonts fontconfig lists for a pattern (`:lang=ar`, a family name,
    `:charset=5f20`); None without fontconfig's fc-list (Debian's `fontconfig`, which Pango
    depends on)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    listed = subprocess.run(  # noqa: S603 (fontconfig's own tool, a pattern of ours)
        [fc_list, "--format", "%{family[0]}\n", pattern],
        capture_output=True,
        text=True,
        env=None if env is None else {**os.environ, **env},
        check=False,
        timeout=60,
    )
    return sorted({line for line in listed.stdout.splitlines() if line})


NO_FONTCONFIG = (
    "fontconfig's fc-list is missing, so no font can be found for a certificate:"
    " sudo apt-get install fontconfig"
)


def missing_for(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Why `text` would not print on a certificate: for each script of its letters that no
    font has, the reason and the apt command. Empty when every letter has a font."""
    reasons = []
    for script in SCRIPTS:
        chars = sorted({c for c in text if script.writes(c)})
        if not chars:
            continue
        found = families(":charset=" + " ".join(f"{ord(c):x}" for c in chars), env)
        if found is None:
            return [NO_FONTCONFIG]
        if not found:
            reasons.append(
                f"no font has the {script.name} letters of {text!r}, and {script.package}"
                f" is not installed: {script.install}"
            )
    return reasons


def report(env: Mapping[str, str] | None = None) -> list[str]:
    """What `make check-system` says: for each script whose family is missing, what a
    certificate shows instead, and the apt command. Empty when nothing is missing."""
    lines = []
    for script in SCRIPTS:
        if families(script.family, env):
            continue
        covered = {lang: families(f":lang={lang}", env) for lang in script.langs}
        if None in covered.values():
            return [NO_FONTCONFIG]
        others = sorted({family for found in covered.values() for family in found or ()})
        bare = [lang for lang, found in covered.items() if not found]
        if not others:
            shows = "print as empty boxes"
        elif bare:
            shows = (
                f"print in {others[0]} where it has them, and as empty boxes where not"
                f" (no font for {', '.join(bare)})"
            )
        else:
            shows = f"print in {others[0]} instead"
        lines.append(
            f"Certificates: the font {script.family} ({script.package}) is missing: names in"
            f" {script.name} script {shows} until it is installed: {script.install}"
        )
    return lines


if __name__ == "__main__":
    for line in report():
        print(line)
