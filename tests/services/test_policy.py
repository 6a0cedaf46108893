"""The password policy (NIST SP 800-63B-4): length rules, the blocklist, personal words."""

from __future__ import annotations

import pytest

from ecomdesk.services.errors import ValidationError
from ecomdesk.services.policy import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_new_password,
    common_passwords,
    password_problem,
)


def test_the_shipped_blocklist_has_thousands_of_entries_and_no_comment_lines() -> None:
    words = common_passwords()
    assert len(words) > 5000
    assert "123456" in words and "password" in words
    assert not any(w.startswith("#") for w in words)


@pytest.mark.parametrize("length", [MIN_LENGTH - 1, 1, 0])
def test_short_passwords_are_refused_with_the_count_so_far(length: int) -> None:
    problem = password_problem("q7#Kd!pZw9@xLm2vR4"[:length])
    assert problem is not None and f"at least {MIN_LENGTH} characters ({length} so far)" in problem


def test_fifteen_characters_without_any_composition_are_enough() -> None:
    assert password_problem("plainlowercasez") is None
    assert len("plainlowercasez") == MIN_LENGTH


def test_128_characters_are_accepted_and_129_refused_without_truncation() -> None:
    base = "tulip river quartz lantern " * 5
    assert password_problem(base[:MAX_LENGTH]) is None
    problem = password_problem(base[:MAX_LENGTH] + "x")
    assert problem is not None and "at most 128" in problem


def test_length_counts_characters_not_bytes() -> None:
    # 15 non-ASCII characters are 15, not 30+ (no byte counting, no truncation).
    assert password_problem("ääööüüßßéèêëçñœ") is None
    problem = password_problem("ääööüüßßéèêëçñ")
    assert problem is not None and "(14 so far)" in problem


def test_common_passwords_are_refused_even_when_long_and_in_other_case() -> None:
    long_common = next(w for w in common_passwords() if len(w) >= MIN_LENGTH)
    assert password_problem(long_common) is not None
    assert password_problem(long_common.upper()) is not None


def test_case_is_kept_two_passwords_differing_in_case_are_different() -> None:
    from ecomdesk.services.passwords import hash_password, verify_password

    stored = hash_password("Tulip River Quartz Lantern")
    assert verify_password("Tulip River Quartz Lantern", stored)[0]
    assert not verify_password("tulip river quartz lantern", stored)[0]


@pytest.mark.parametrize(
    "password",
    ["ada.lovelace@shop.example", "Ada.Lovelace2026!!", "adalovelace-adalovelace", "LOVELACE-lovelace-1"],
)
def test_the_users_own_email_or_name_is_refused(password: str) -> None:
    problem = password_problem(password, email="ada.lovelace@shop.example", names=("Ada", "Lovelace"))
    assert problem == "The password must not be based on your email address or your name."


def test_a_name_inside_a_long_passphrase_is_fine() -> None:
    passphrase = "ada likes green tea with quartz lanterns at dawn"
    assert password_problem(passphrase, email="ada@shop.example", names=("Ada", "Lovelace")) is None


def test_repeated_characters_are_refused() -> None:
    assert password_problem("aaaaaaaaaaaaaaaaaaaa") is not None
    assert password_problem("abababababababababab") is not None


def test_check_new_password_raises_a_validation_error_on_the_named_field() -> None:
    with pytest.raises(ValidationError) as info:
        check_new_password("short", field="new_password")
    assert set(info.value.fields) == {"new_password"}
    assert "at least 15 characters" in info.value.fields["new_password"]
