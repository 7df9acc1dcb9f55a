"""Password hashes: what is stored, what verifies, and what is refused."""

from __future__ import annotations

import base64
import hashlib

import pytest

from kolokol.auth.passwords import (
    MAX_BYTES,
    PasswordRejected,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

PASSWORD = "Регистратура-2026"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def test_a_password_round_trips_and_only_it(stored: str) -> None:
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password(PASSWORD.lower(), stored)
    assert not verify_password("", stored)


def test_the_hash_describes_itself_and_hides_the_password(stored: str) -> None:
    scheme, params, salt, key = stored.split("$")
    assert (scheme, params) == ("scrypt", "ln=15,r=8,p=1")
    assert len(base64.b64decode(salt + "==")) == 16 and len(base64.b64decode(key + "=")) == 32
    assert PASSWORD not in stored
    assert not needs_rehash(stored)


def test_the_same_password_hashes_differently_each_time(stored: str) -> None:
    again = hash_password(PASSWORD)
    assert again != stored and verify_password(PASSWORD, again)


def test_equivalent_unicode_spellings_are_one_password() -> None:
    composed = "Мой пароль йод 1"
    decomposed = composed.replace("й", "и\u0306")  # what some keyboards and pastes produce
    assert decomposed != composed
    assert verify_password(decomposed, hash_password(composed))


def _with(stored: str, index: int, value: str) -> str:
    parts = stored.split("$")
    parts[index] = value
    return "$".join(parts)


def _one_bit_flipped(b64: str) -> str:
    """The same base64 text with one bit of its first byte changed: different bytes, whatever they were."""
    raw = base64.b64decode(b64 + "=" * (-len(b64) % 4))
    return base64.b64encode(bytes([raw[0] ^ 1]) + raw[1:]).decode().rstrip("=")


def test_a_tampered_hash_verifies_nothing(stored: str) -> None:
    salt, key = stored.split("$")[2:]
    assert not verify_password(PASSWORD, _with(stored, 3, _one_bit_flipped(key)))
    assert not verify_password(PASSWORD, _with(stored, 2, _one_bit_flipped(salt)))
    assert not verify_password(PASSWORD, _with(stored, 1, "ln=14,r=8,p=1"))


@pytest.mark.parametrize("text", ["AAAAAAAAAAAAAAAAAAAAAA", "A" + "x" * 21, "/////////////////////w"])
def test_the_tampering_changes_the_bytes_whatever_they_are(text: str) -> None:
    assert _one_bit_flipped(text) != text
    assert base64.b64decode(_one_bit_flipped(text) + "==") != base64.b64decode(text + "==")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain text",
        "bcrypt$2b$12$abc",
        "scrypt$ln=15,r=8,p=1$c2FsdA",
        "scrypt$ln=15,r=8$c2FsdHNhbHRzYWx0$a2V5",
        "scrypt$ln=15,r=8,p=1,x=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$ln=fifteen,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$ln=15,r=8,p=1$not base64!$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
        # Parameters that would cost gigabytes or minutes are refused before any work.
        "scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$ln=15,r=8,p=99$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
    ],
)
def test_an_unreadable_hash_verifies_nothing_and_asks_for_a_new_one(bad: str) -> None:
    assert not verify_password(PASSWORD, bad)
    assert needs_rehash(bad)


def test_older_parameters_still_verify_and_ask_to_be_upgraded() -> None:
    salt = b"sixteen byte slt"
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**12, r=8, p=1, dklen=32)
    old = "scrypt$ln=12,r=8,p=1${}${}".format(
        base64.b64encode(salt).decode().rstrip("="), base64.b64encode(key).decode().rstrip("=")
    )
    assert verify_password(PASSWORD, old)
    assert needs_rehash(old)


@pytest.mark.parametrize("password", ["", "123456789", "короткий!"])
def test_short_passwords_are_refused_with_the_reason(password: str) -> None:
    with pytest.raises(PasswordRejected, match="at least 10 characters"):
        hash_password(password)


def test_overlong_passwords_are_refused_and_never_hashed(stored: str) -> None:
    with pytest.raises(PasswordRejected, match=f"at most {MAX_BYTES} bytes"):
        hash_password("я" * 513)  # 1026 bytes in UTF-8
    assert not verify_password("x" * 1_000_000, stored)
    longest = "я" * 512
    assert verify_password(longest, hash_password(longest))


def test_broken_text_is_refused() -> None:
    with pytest.raises(PasswordRejected, match="not valid text"):
        hash_password("password\udcff123")


def test_the_dummy_hash_is_well_formed_and_matches_nothing() -> None:
    dummy = dummy_hash()
    assert not needs_rehash(dummy)
    assert not verify_password(PASSWORD, dummy)
    assert dummy != dummy_hash()
