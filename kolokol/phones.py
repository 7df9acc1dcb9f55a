"""Phone number normalization for caller IDs, dialled numbers and imported contacts.

Everything that matches a call to a contact or a task goes through ``PhoneNormalizer.key``,
so the same person must come out identical no matter whether the number arrived from the
PBX (``89161234567``, ``sip:+79161234567@pbx``), from a CRM export (``8 (916) 123-45-67``)
or was typed by a receptionist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, ValidationResult

__all__ = ["Phone", "PhoneNormalizer", "format_for_reading"]

_URI_SCHEME = re.compile(r"^(?:tel|sips?):", re.IGNORECASE)
# Separators people and spreadsheets put inside numbers. Unicode dashes and the no-break
# space come from Excel/Word autocorrect; anything else (letters, '*', '#') means the value
# is not a plain phone number and guessing would risk attributing a call to the wrong person.
_ALLOWED = re.compile(r"^\+?[0-9\s()\-.\u2010-\u2015\u00a0]*$")


@dataclass(frozen=True, slots=True)
class Phone:
    kind: Literal["external", "extension"]
    # E.164 ("+79161234567") for external numbers, the bare digits ("101") for extensions.
    value: str


class PhoneNormalizer:
    def __init__(
        self,
        default_region: str = "RU",
        max_extension_digits: int = 5,
        trunk_prefixes: Sequence[str] = (),
    ) -> None:
        if max_extension_digits < 2:
            raise ValueError("max_extension_digits must be at least 2")
        for prefix in trunk_prefixes:
            if not prefix.isdigit():
                raise ValueError(f"trunk prefix must be digits, got {prefix!r}")
        self._region = default_region.upper()
        self._max_extension_digits = max_extension_digits
        # Longest first so that "99" wins over "9" when both are configured.
        self._trunk_prefixes = tuple(sorted(set(trunk_prefixes), key=len, reverse=True))

    def normalize(self, raw: str | None) -> Phone | None:
        if raw is None:
            return None
        text = _strip_uri(raw.strip())
        if not text or not _ALLOWED.match(text):
            return None
        digits = "".join(ch for ch in text if ch.isdigit())
        international = text.startswith("+")
        if not international and 2 <= len(digits) <= self._max_extension_digits:
            return Phone("extension", digits)
        if len(digits) <= self._max_extension_digits:
            return None

        primary = self._parse(digits, international)
        if primary is not None and phonenumbers.is_valid_number(primary):
            return _external(primary)
        if international and digits.startswith("8") and len(digits) == 11:
            # "+8 916 ..." is a frequent hand-typed mix of the "+7" and "8" spellings. Only
            # tried once the number proved invalid as written, so real +8x numbers win.
            national = self._parse(digits, international=False)
            if national is not None and phonenumbers.is_valid_number(national):
                return _external(national)
        if not international:
            # A PBX may hand us the outside-line prefix it was dialled with. Stripping it
            # unconditionally would corrupt numbers that legitimately start with the same
            # digit, so it is only accepted when it turns an invalid number into a valid one.
            for prefix in self._trunk_prefixes:
                if digits.startswith(prefix) and len(digits) > len(prefix):
                    stripped = self._parse(digits[len(prefix) :], international=False)
                    if stripped is not None and phonenumbers.is_valid_number(stripped):
                        return _external(stripped)
        # Numbering plans in phonenumbers' metadata lag behind reality (new mobile ranges,
        # small operators), so a number of plausible length is kept rather than lost.
        # All-zero placeholders ("+7 000 000-00-00") are how CRMs spell "no phone".
        if (
            primary is not None
            and primary.national_number
            and phonenumbers.is_possible_number_with_reason(primary) == ValidationResult.IS_POSSIBLE
        ):
            return _external(primary)
        return None

    def e164(self, raw: str | None) -> str | None:
        phone = self.normalize(raw)
        if phone is None or phone.kind != "external":
            return None
        return phone.value

    def key(self, raw: str | None) -> str | None:
        phone = self.normalize(raw)
        return None if phone is None else phone.value

    def national_digits(self, e164: str) -> str | None:
        """The number as dialled inside the clinic's own country (89161234567), or None if abroad."""
        try:
            number = phonenumbers.parse(e164, None)
        except NumberParseException:
            return None
        if phonenumbers.region_code_for_number(number) != self._region:
            return None
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        return "".join(ch for ch in national if ch.isdigit()) or None

    def _parse(self, digits: str, international: bool) -> PhoneNumber | None:
        if international:
            candidate = "+" + digits
        elif digits.startswith("00"):
            # phonenumbers only strips the default region's own IDD ("810" for Russia), but
            # "00" is what most people write now, and no national number starts with it.
            candidate = "+" + digits[2:]
        else:
            candidate = digits
        try:
            return phonenumbers.parse(candidate, self._region)
        except NumberParseException:
            return None


def _strip_uri(text: str) -> str:
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not _URI_SCHEME.match(text):
        return text
    rest = text.split(":", 1)[1]
    # sip:user@host:port;params -- only the user part is the number; tel:+7...;ext=1 likewise.
    user = rest.split("@", 1)[0]
    return user.split(";", 1)[0].strip()


def _external(number: PhoneNumber) -> Phone:
    return Phone("external", phonenumbers.format_number(number, PhoneNumberFormat.E164))


def format_for_reading(e164: str) -> str:
    """Human-friendly form for UIs and call cards: ``+7 916 123-45-67``.

    Input that cannot be parsed is returned unchanged: a display helper must never be the
    reason a screen fails to render.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
