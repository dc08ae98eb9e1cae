"""E-mail addresses: the one form they are stored and looked up in, and the skeleton that
finds look-alikes (Unicode UTS #39)."""

from __future__ import annotations

import hashlib
import unicodedata

import icu
from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """An address that cannot be stored; the message says why, for the person who typed it."""


def _folded(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().lower()


def valid_email(email: str) -> str:
    """The address as stored, looked up and throttled: NFKC (fullwidth letters and other
    compatibility forms become the plain ones), lower case, then email-validator's
    normalised form (NFC, the domain in Unicode); InvalidEmail if it is no address."""
    try:
        return validate_email(_folded(email), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidEmail(f"That is not a usable e-mail address: {error}") from None


def normalise_email(email: str) -> str:
    """`valid_email(email)`, or for what is no address its NFKC form in lower case: a lookup
    of it then simply finds nothing."""
    try:
        return valid_email(email)
    except InvalidEmail:
        return _folded(email)


# ICU's spoof checker is the reference implementation of UTS #39 (its confusables data is
# Unicode's). getSkeleton only reads the checker, which ICU allows from any thread.
_SPOOF_CHECKER = icu.SpoofChecker()


def email_skeleton(email: str) -> str:
    """What an address looks like, for finding look-alikes: two addresses whose skeletons
    are equal (Cyrillic U+0430 for a Latin "a", "rn" for "m") look the same to a reader.

    Stored as the SHA-256 of the UTS #39 skeleton of the normalised address: a skeleton can
    be several times longer than its address, past what a PostgreSQL index entry may hold.
    """
    # The first argument (a type) is ignored since ICU 58.
    skeleton = _SPOOF_CHECKER.getSkeleton(0, normalise_email(email))
    return hashlib.sha256(skeleton.encode()).hexdigest()
