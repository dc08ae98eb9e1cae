"""The one rule for a person's name, as an account holds it and a certificate prints it.

A name keeps what a reader sees: spaces collapse, format characters that reorder or hide
text (bidi overrides, zero-width spaces) are dropped, and a name must have a letter that
prints. The forms validate with it (forms.PersonName) and the services store what it returns.
"""

from __future__ import annotations

import unicodedata

from learnapp.models import NAME_MAX


class InvalidName(ValueError):
    """The name cannot be used; the message is for the person who typed it."""


NO_LETTER = "Please give a name with at least one letter (invisible characters do not count)."

# Default_Ignorable_Code_Point, from the Unicode Character Database's DerivedCoreProperties.txt
# (https://www.unicode.org/Public/UCD/latest/ucd/DerivedCoreProperties.txt; the list is the
# same from Unicode 14.0, Python 3.11's unicodedata, on): characters that a renderer shows as
# nothing. Python's unicodedata has no such property. Among them are letters (category Lo),
# the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, which print as a blank.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

ZWNJ, ZWJ = "\u200c", "\u200d"
VIRAMA = 9  # the canonical combining class of the viramas of Indic scripts
# The Arabic script's blocks: Arabic, Syriac, Arabic Supplement, Extended-B and -A, and the
# presentation forms. Persian and Urdu names use ZWNJ to stop two letters joining.
ARABIC_SCRIPT = (
    (0x0600, 0x077F),
    (0x0870, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFC),
)


def default_ignorable(char: str) -> bool:
    point = ord(char)
    return any(first <= point <= last for first, last in DEFAULT_IGNORABLE)


def _arabic_letter(char: str) -> bool:
    point = ord(char)
    return char.isalpha() and any(first <= point <= last for first, last in ARABIC_SCRIPT)


def _joiner_needed(before: str, char: str, after: str) -> bool:
    """ZWJ and ZWNJ change how Indic and Arabic script names are written, as the IDNA rules
    for them (RFC 5892, appendix A.1 and A.2) describe: either after a virama (a half form, a
    chillu, a conjunct kept apart), or ZWNJ between two letters of the Arabic script."""
    if char not in (ZWJ, ZWNJ):
        return False
    if before and unicodedata.combining(before) == VIRAMA:
        return True
    return char == ZWNJ and _arabic_letter(before) and _arabic_letter(after)


def _printed(raw: str) -> str:
    """Without control and format characters (categories Cc and Cf), but the joiners that
    the script around them needs."""
    kept = []
    for index, char in enumerate(raw):
        if unicodedata.category(char) in ("Cc", "Cf"):
            before = raw[index - 1] if index else ""
            after = raw[index + 1] if index + 1 < len(raw) else ""
            if not _joiner_needed(before, char, after):
                continue
        kept.append(char)
    return "".join(kept)


def clean_name(raw: str) -> str:
    """The name to store: what prints, spaces collapsed; InvalidName if it has no letter
    that prints or is too long."""
    name = " ".join(_printed(raw).split())
    if not any(c.isalpha() and not default_ignorable(c) for c in name):
        raise InvalidName(NO_LETTER)
    if len(name) > NAME_MAX:
        raise InvalidName(f"The name is too long: at most {NAME_MAX} characters.")
    return name
