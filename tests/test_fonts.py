"""Finding the system fonts certificates need (learnapp/fonts.py), and what a test or
`make check-system` says when one is missing: checked against a fontconfig with no fonts, so
that the skip path runs whatever this machine has installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from learnapp import fonts
from learnapp.config import ROOT
from tests.fonts import require_fonts_for

NAMES = {"chinese": "张伟", "arabic": "محمد عبد الله", "accented": "Zoë Ångström-Çelik"}
needs_fc_list = pytest.mark.skipif(
    shutil.which("fc-list") is None, reason="fontconfig is not installed (fc-list)"
)


@pytest.fixture
def no_fonts(tmp_path, monkeypatch):
    """A fontconfig set-up that knows no font at all."""
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>\n"
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    return config


def test_each_scripts_family_is_one_the_certificate_stylesheet_names():
    css = (ROOT / "learnapp" / "static" / "css" / "certificate.css").read_text()
    named = {
        f.strip().strip('"') for m in re.findall(r"font-family:([^;]+);", css) for f in m.split(",")
    }
    assert {script.family for script in fonts.SCRIPTS} <= named


def test_each_letter_belongs_to_its_script():
    assert [s.name for s in fonts.SCRIPTS if any(map(s.writes, "张伟"))] == [fonts.CJK.name]
    assert [s for s in fonts.SCRIPTS if any(map(s.writes, "محمد"))] == [fonts.ARABIC]
    assert [s for s in fonts.SCRIPTS if any(map(s.writes, "Zoë Ō"))] == [fonts.LATIN]
    assert not [s for s in fonts.SCRIPTS if any(map(s.writes, " -'😀1"))]


@needs_fc_list
@pytest.mark.parametrize(
    ("name", "package"),
    [
        (NAMES["chinese"], "fonts-noto-cjk"),
        (NAMES["arabic"], "fonts-noto-core"),
        (NAMES["accented"], "fonts-dejavu-core"),
    ],
    ids=["chinese", "arabic", "accented"],
)
def test_a_test_without_its_font_skips_with_the_apt_command(no_fonts, monkeypatch, name, package):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_fonts_for(name)
    assert f"{package} is not installed: sudo apt-get install {package}" in str(skipped.value)


@needs_fc_list
@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_test_without_its_font_fails(no_fonts, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as failed:
        require_fonts_for(NAMES["chinese"])
    assert "sudo apt-get install fonts-noto-cjk" in str(failed.value)


@needs_fc_list
def test_a_name_with_no_letters_of_a_known_script_needs_nothing(no_fonts, monkeypatch):
    monkeypatch.setenv("CI", "true")
    require_fonts_for("12 😀")


def test_without_fontconfig_the_reason_says_to_install_it(monkeypatch):
    monkeypatch.setattr(fonts.shutil, "which", lambda _name: None)
    assert fonts.missing_for(NAMES["chinese"]) == [fonts.NO_FONTCONFIG]
    assert fonts.report() == [fonts.NO_FONTCONFIG]


@needs_fc_list
def test_check_system_names_each_missing_font_and_what_a_certificate_shows(no_fonts):
    # As `make check-system` runs it: the system python, without the app's dependencies.
    result = subprocess.run(  # noqa: S603 (our own interpreter and file)
        [sys.executable, "-I", str(ROOT / "learnapp" / "fonts.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == fonts.report()
    assert (
        "Certificates: the font Noto Sans CJK SC (fonts-noto-cjk) is missing: names in Chinese,"
        " Japanese or Korean script print as empty boxes until it is installed:"
        " sudo apt-get install fonts-noto-cjk"
    ) in result.stdout
    assert "Noto Sans Arabic (fonts-noto-core) is missing: names in Arabic script" in result.stdout
    assert "DejaVu Serif (fonts-dejavu-core) is missing" in result.stdout


@needs_fc_list
def test_check_system_is_silent_where_every_font_is_found(monkeypatch):
    monkeypatch.setattr(fonts, "families", lambda pattern, env=None: ["Some Font"])
    assert fonts.report() == []
    assert fonts.missing_for("".join(NAMES.values())) == []


def test_a_missing_family_with_another_font_for_the_script_prints_in_that(monkeypatch):
    """DejaVu Sans has Arabic letters, and a Chinese font may have no Japanese."""
    listed = {"DejaVu Serif": ["DejaVu Serif"], ":lang=en": ["DejaVu Serif"]}
    listed |= {":lang=ar": ["DejaVu Sans"], ":lang=zh-cn": ["AR PL UMing CN"]}
    monkeypatch.setattr(fonts, "families", lambda pattern, env=None: listed.get(pattern, []))
    arabic, cjk = fonts.report()
    assert "Noto Sans Arabic (fonts-noto-core) is missing" in arabic
    assert "names in Arabic script print in DejaVu Sans instead until it is installed" in arabic
    assert (
        "print in AR PL UMing CN where it has them, and as empty boxes where not"
        " (no font for ja, ko)"
    ) in cjk
