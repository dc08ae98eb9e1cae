"""Names, the account's and the certificate's, follow one rule (learnapp/names.py), through
every form that takes one: registering, changing one's name, claiming a certificate and
correcting it. A name needs a letter one can see; invisible format characters are dropped,
except the joiners Indic and Arabic script names need; and any accepted name prints on one
page of the certificate."""

from __future__ import annotations

import io
import unicodedata

import pypdf
import pytest
from sqlalchemy import select

from learnapp import fonts
from learnapp.models import Certificate, User
from tests.conftest import PASSWORD, count_rows, form_errors
from tests.fonts import in_ci, require_fonts_for
from tests.test_certificates import claim, compact, flashes, issue, login, pass_final, pdf_text
from tests.test_certificates import stored as stored_certificate

NO_LETTER = "Please give a name with at least one letter (invisible characters do not count)."

# Names that print as nothing, or as a blank: each was once accepted, and a certificate for it
# verified as genuine.
INVISIBLE = {
    "zero width space": "\u200b",
    "braille blank": "\u2800",
    "hangul filler": "\u3164",
    "hangul choseong filler": "\u115f",
    "halfwidth hangul filler": "\uffa0",
    "fillers and spaces": "\u3164 \u115f\u1160 \u2800",
    "bidi controls": "\u202e\u2066\u2069",
    "joiners": "\u200d\u200c",
    "no letter at all": "1234 --",
}

# Format characters (Cf) that reorder or hide text, around and inside a plain name.
FORMATTED = {
    "right-to-left override": ("\u202eAda Lovelace", "Ada Lovelace"),
    "isolates": ("Ada \u2066Lovelace\u2069", "Ada Lovelace"),
    "zero width space": ("Ada\u200b Love\u200blace", "Ada Lovelace"),
    "word joiner and BOM": ("\ufeffAda\u2060 Lovelace", "Ada Lovelace"),
    "soft hyphen": ("Ada Love\u00adlace", "Ada Lovelace"),
    "marks": ("\u200fAda\u200e Lovelace", "Ada Lovelace"),
    "joiners between Latin letters": ("Ada\u200d\u200c Lovelace", "Ada Lovelace"),
}

# The joiners that Indic and Arabic script names need, as their writers type them.
JOINED = {
    # Persian: ZWNJ keeps ی from joining ر (Alireza, written as one word).
    "persian zwnj": "علی\u200cرضا",  # noqa: RUF001 (Arabic letters on purpose)
    # Devanagari: virama + ZWJ asks for the half form of ष (Lakshmi).
    "devanagari zwj": "लक्ष्\u200dमी",
    # Malayalam: virama + ZWJ writes a chillu, here at the end of the word (Arjun).
    "malayalam chillu": "അര്\u200dജുന്\u200d",
}


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


def user_named(db, email: str) -> User | None:
    db.rollback()
    return db.scalar(select(User).where(User.email == email))


def register(client, name: str, email: str = "nova@example.com"):
    data = {"name": name, "email": email, "password": PASSWORD, "confirm": PASSWORD}
    return client.post("/auth/register", data=data)


def require_a_font_for(text: str) -> None:
    """Like tests.fonts.require_fonts_for, for the scripts learnapp.fonts does not list."""
    require_fonts_for(text)
    letters = sorted({c for c in text if c.isalpha()})
    found = fonts.families(":charset=" + " ".join(f"{ord(c):x}" for c in letters))
    if found == []:
        reason = f"no font has the letters of {text!r}: sudo apt-get install fonts-noto-core"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


# --- Invisible names are refused -----------------------------------------------------------


@pytest.mark.parametrize("name", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_name_without_a_visible_letter_is_refused_everywhere(
    app, client, learner, db, catalogue, create_user, name
):
    visitor = app.test_client()
    response = register(visitor, name)
    assert response.status_code == 400
    assert NO_LETTER in form_errors(response.text)
    assert user_named(db, "nova@example.com") is None

    response = client.post("/account/name", data={"name": name})
    assert response.status_code == 400
    assert NO_LETTER in form_errors(response.text)
    assert user_named(db, learner.email).name == "Ada Learner"

    attempt = pass_final(client, db, catalogue)
    response = claim(client, attempt.id, name)
    assert response.status_code == 400
    assert NO_LETTER in form_errors(response.text)
    assert count_rows(db, Certificate) == 0

    code = claim(client, attempt.id).location.removeprefix("/certificates/")
    create_user(email="admin@example.com", name="Ann Admin", role="admin")
    admin = login(app, "admin@example.com")
    response = admin.post(f"/certificates/{code}/reissue", data={"name": name})
    assert NO_LETTER in flashes(admin.get(response.location).text)
    assert stored_certificate(db, code).revision == 1


# --- Format characters are dropped, joiners kept where a script needs them -----------------


@pytest.mark.parametrize(("typed", "kept"), FORMATTED.values(), ids=FORMATTED.keys())
def test_format_characters_are_dropped_from_names(app, client, learner, db, catalogue, typed, kept):
    assert register(app.test_client(), typed).status_code == 302
    assert user_named(db, "nova@example.com").name == kept

    assert client.post("/account/name", data={"name": typed}).status_code == 302
    assert user_named(db, learner.email).name == kept

    code = issue(client, db, catalogue, typed)
    certificate = stored_certificate(db, code)
    assert certificate.name == kept
    assert kept in pdf_text(certificate.pdf)
    assert kept in app.test_client().get(f"/verify/{code}").text


@pytest.mark.parametrize("name", JOINED.values(), ids=JOINED.keys())
def test_joiners_that_indic_and_arabic_names_need_are_kept_and_printed(
    app, client, learner, db, catalogue, name
):
    require_a_font_for(name)
    assert register(app.test_client(), name).status_code == 302
    assert user_named(db, "nova@example.com").name == name
    assert client.post("/account/name", data={"name": name}).status_code == 302
    assert user_named(db, learner.email).name == name

    code = issue(client, db, catalogue, name)
    certificate = stored_certificate(db, code)
    assert certificate.name == name
    # Shaped text may come back from the PDF in visual order, or with a conjunct as one
    # glyph: every letter of the name is there.
    assert {c for c in name if c.isalpha()} <= set(pdf_text(certificate.pdf))
    assert name in app.test_client().get(f"/verify/{code}").text


# --- Any accepted name prints on one page -------------------------------------------------

LONG = {
    "unbroken latin": "W" * 120,
    "latin words": " ".join(["Wolfeschlegelsteinhausenbergerdorff"] * 4)[:120],
    "cjk": "王" * 120,
    "mixed": ("Maria José 王小明 محمد " * 8)[:120].strip(),
}


@pytest.mark.parametrize("page_size", ["A4", "Letter"])
def test_any_accepted_name_prints_on_one_page(
    app, client, learner, db, catalogue, create_user, page_size
):
    for name in LONG.values():
        require_fonts_for(name)
    app.config["CERTIFICATE_PAGE_SIZE"] = page_size
    first, *others = LONG.values()
    code = issue(client, db, catalogue, first)
    # The others as corrections by an admin: the same rendering, for one pass of the quiz.
    create_user(email="admin@example.com", name="Ann Admin", role="admin")
    admin = login(app, "admin@example.com")
    for name in others:
        response = admin.post(f"/certificates/{code}/reissue", data={"name": name})
        assert response.status_code == 302
    for revision, name in enumerate(LONG.values(), start=1):
        certificate = stored_certificate(db, code, revision)
        assert certificate.name == name
        pages = len(pypdf.PdfReader(io.BytesIO(certificate.pdf)).pages)
        assert pages == 1, f"{name!r} on {page_size}: {pages} pages"
        if not any(unicodedata.bidirectional(c) == "AL" for c in name):
            assert compact(name) in compact(pdf_text(certificate.pdf))


def test_a_name_too_wide_for_the_page_is_refused_with_a_message(client, learner, db, catalogue):
    # U+FDFD, one character as wide as a phrase: 119 of them cannot fit on one page.
    name = "a" + "\ufdfd" * 119
    require_fonts_for(name)
    attempt = pass_final(client, db, catalogue)
    response = claim(client, attempt.id, name)
    assert response.status_code == 400
    assert "This name is too wide to print on one certificate page" in response.text
    assert count_rows(db, Certificate) == 0
