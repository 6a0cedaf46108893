"""The password policy of NIST SP 800-63B-4 for single-factor passwords.

Length is what matters: at least 15 characters, up to 128 accepted, every character counts (no
truncation, no case folding, no composition rules). Passwords that attackers try first — the
common-password list shipped in `resources/` — and the user's own email or name are refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Final

from ecomdesk.services.errors import ValidationError

MIN_LENGTH: Final = 15
MAX_LENGTH: Final = 128


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, read once (about 10,000 entries)."""
    text = files("ecomdesk.resources").joinpath("common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _length(password: str) -> int:
    # NIST counts each Unicode code point once, after normalisation (NFKC keeps the comparison fair
    # between a composed "é" and "e" + combining accent).
    return len(unicodedata.normalize("NFKC", password))


def _squash(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


def password_problem(password: str, *, email: str = "", names: Iterable[str] = ()) -> str | None:
    """Why `password` is not acceptable, as one sentence for the person choosing it; None when fine."""
    length = _length(password)
    if length < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters ({length} so far). A few unrelated words work well."
    if length > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters ({length} given)."
    if password.strip() == "":
        return "A password cannot be only spaces."
    # The blocklist is compared case-insensitively: "PASSWORD1234567" is as weak as its lower case.
    if password.casefold() in common_passwords() or password in common_passwords():
        return "This password is one of the most commonly used ones; choose something less predictable."
    squashed = _squash(password)
    if len(set(squashed)) <= 2:
        return "This password repeats too few different characters; choose something less predictable."
    # Based on personal words: what is left after taking out the email, its local part and the
    # names (each may repeat) is too little to count as a password of its own.
    personal = sorted(
        {_squash(w) for w in (email, *email.partition("@")[::2], *names, "".join(names), "ecomdesk")},
        key=len,
        reverse=True,
    )
    rest = squashed
    for word in personal:
        if len(word) >= 3:
            rest = rest.replace(word, "")
    if rest != squashed and len(rest) < 8:
        return "The password must not be based on your email address or your name."
    return None


def check_new_password(
    password: str, *, email: str = "", names: Iterable[str] = (), field: str = "password"
) -> None:
    """Raise `ValidationError` on `field` when the password breaks the policy."""
    problem = password_problem(password, email=email, names=names)
    if problem:
        raise ValidationError({field: problem})
