"""Password hashing with scrypt (stdlib), in a self-describing string: ``scrypt$ln=15,r=8,p=1$salt$key``.

Pure and synchronous. Hashing costs ~50-100 ms of CPU on purpose, so async code calls these through
``asyncio.to_thread``: the event loop also serves the live feed and must never stall on a login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

MIN_LENGTH = 10
MAX_BYTES = 1024

_SCHEME = "scrypt"
_LOG2_N = 15
_R = 8
_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
# Bounds for parameters read back from the database: a corrupted or planted hash must not make one
# login burn gigabytes of memory or minutes of CPU.
_LOG2_N_RANGE = range(10, 21)
_R_RANGE = range(1, 33)
_P_RANGE = range(1, 17)


class PasswordRejected(ValueError):
    """The password does not meet the policy; the message says why, in words an administrator reads."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    log2_n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _normalized(password: str) -> bytes:
    # The same Cyrillic or accented password typed on two keyboards may arrive composed or decomposed.
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _maxmem(log2_n: int, r: int, p: int) -> int:
    # OpenSSL refuses unless maxmem covers its V and B arrays (128*r*N + 128*r*p bytes); leave slack.
    return 128 * r * ((1 << log2_n) + p + 2) + 1024 * 1024


def _derive(password: bytes, salt: bytes, log2_n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password, salt=salt, n=1 << log2_n, r=r, p=p, maxmem=_maxmem(log2_n, r, p), dklen=length
    )


def check_policy(password: str) -> None:
    """Raise `PasswordRejected` unless the password may be set."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"the password must be at least {MIN_LENGTH} characters long")
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:
        raise PasswordRejected("the password is not valid text (broken characters)") from None
    if len(encoded) > MAX_BYTES:
        raise PasswordRejected(f"the password must be at most {MAX_BYTES} bytes long")


def hash_password(password: str) -> str:
    check_policy(password)
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(_normalized(password), salt, _LOG2_N, _R, _P, _KEY_BYTES)
    return f"{_SCHEME}$ln={_LOG2_N},r={_R},p={_P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> _Parsed:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != _SCHEME:
        raise ValueError("not an scrypt hash")
    try:
        params = dict(item.split("=", 1) for item in parts[1].split(","))
        log2_n, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, key = _unb64(parts[2]), _unb64(parts[3])
    except (KeyError, ValueError, binascii.Error) as exc:
        raise ValueError("malformed scrypt hash") from exc
    if set(params) != {"ln", "r", "p"}:
        raise ValueError("unknown scrypt parameters")
    if log2_n not in _LOG2_N_RANGE or r not in _R_RANGE or p not in _P_RANGE:
        raise ValueError("scrypt parameters out of range")
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        raise ValueError("scrypt salt or key of the wrong size")
    return _Parsed(log2_n, r, p, salt, key)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for a wrong password or an unusable hash."""
    try:
        parsed = _parse(stored)
    except ValueError:
        return False
    # Nothing longer can ever have been set, so skip the work instead of hashing a megabyte.
    if len(password.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return False
    try:
        candidate = _derive(
            _normalized(password), parsed.salt, parsed.log2_n, parsed.r, parsed.p, len(parsed.key)
        )
    except (ValueError, MemoryError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(candidate, parsed.key)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's (or cannot be read)."""
    try:
        parsed = _parse(stored)
    except ValueError:
        return True
    return (parsed.log2_n, parsed.r, parsed.p, len(parsed.salt), len(parsed.key)) != (
        _LOG2_N,
        _R,
        _P,
        _SALT_BYTES,
        _KEY_BYTES,
    )


def dummy_hash() -> str:
    """A well-formed hash of no password, so checking an unknown user costs what a real check costs."""
    salt, key = secrets.token_bytes(_SALT_BYTES), secrets.token_bytes(_KEY_BYTES)
    return f"{_SCHEME}$ln={_LOG2_N},r={_R},p={_P}${_b64(salt)}${_b64(key)}"
