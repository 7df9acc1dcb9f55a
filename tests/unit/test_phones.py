from __future__ import annotations

import phonenumbers
import pytest

from kolokol.phones import Phone, PhoneNormalizer, format_for_reading

MOBILE = "+79161234567"

# (raw as seen in PBX logs, CRM exports and hand-typed forms, expected E.164)
EXTERNAL: list[tuple[str, str]] = [
    # One Moscow mobile spelled every way receptionists and exports manage to.
    ("+79161234567", MOBILE),
    ("+7 916 123-45-67", MOBILE),
    ("+7 (916) 123-45-67", MOBILE),
    ("+7(916)1234567", MOBILE),
    ("+7-916-123-45-67", MOBILE),
    ("+7 916 123 45 67", MOBILE),
    ("+7.916.123.45.67", MOBILE),
    ("+7 916 1234567", MOBILE),
    ("+7 9161234567", MOBILE),
    ("+7  916  123  45  67", MOBILE),
    ("+7\u00a0916\u00a0123-45-67", MOBILE),
    ("+7 (916) 123 45 67", MOBILE),
    ("+7 916-1234567", MOBILE),
    ("79161234567", MOBILE),
    ("7 916 123 45 67", MOBILE),
    ("7(916)123-45-67", MOBILE),
    ("7-916-123-45-67", MOBILE),
    ("89161234567", MOBILE),
    ("8 916 123 45 67", MOBILE),
    ("8(916)123-45-67", MOBILE),
    ("8 (916) 123-45-67", MOBILE),
    ("8-916-123-45-67", MOBILE),
    ("8.916.123.45.67", MOBILE),
    ("8 916 1234567", MOBILE),
    ("8 9161234567", MOBILE),
    ("8 (916) 1234567", MOBILE),
    ("8–916–123–45–67", MOBILE),  # en dash from Word autocorrect
    ("8—916—123—45—67", MOBILE),  # em dash
    ("9161234567", MOBILE),
    ("916 123 45 67", MOBILE),
    ("(916) 123-45-67", MOBILE),
    ("916-123-45-67", MOBILE),
    ("916.123.45.67", MOBILE),
    (" +7 916 123 45 67 ", MOBILE),
    ("\t89161234567\n", MOBILE),
    ("+8 916 123 45 67", MOBILE),  # "+7" and "8" mixed up by hand
    ("+89161234567", MOBILE),
    # URIs from the PBX and click-to-call links.
    ("tel:+79161234567", MOBILE),
    ("tel:+7-916-123-45-67", MOBILE),
    ("TEL:+79161234567", MOBILE),
    ("tel:89161234567", MOBILE),
    ("tel:+79161234567;ext=12", MOBILE),
    ("sip:+79161234567@pbx.local", MOBILE),
    ("sip:79161234567@10.0.0.1:5060", MOBILE),
    ("sip:89161234567@10.0.0.1;transport=udp", MOBILE),
    ("sip:+79161234567@host:5060;transport=tcp", MOBILE),
    ("SIP:+79161234567@pbx", MOBILE),
    ("sips:+79161234567@host", MOBILE),
    ("<sip:+79161234567@host>", MOBILE),
    ("sip:9161234567@trunk.provider.ru", MOBILE),
    # International dialling prefixes used from Russia.
    ("00 7 916 123 45 67", MOBILE),
    ("007 916 1234567", MOBILE),
    ("0079161234567", MOBILE),
    ("8107 916 123 45 67", MOBILE),
    ("810 7 916 123-45-67", MOBILE),
    # Other Russian mobile ranges.
    ("+7 903 123-45-67", "+79031234567"),
    ("8 925 123 45 67", "+79251234567"),
    ("8(926)1234567", "+79261234567"),
    ("+7 977 123 45 67", "+79771234567"),
    ("89851234567", "+79851234567"),
    ("+7 999 123-45-67", "+79991234567"),
    ("8 900 123 45 67", "+79001234567"),
    ("9501234567", "+79501234567"),
    ("+7 958 123 45 67", "+79581234567"),
    ("8-904-123-45-67", "+79041234567"),
    ("+7 999 000 00 00", "+79990000000"),
    # Moscow and St Petersburg landlines.
    ("+7 495 123-45-67", "+74951234567"),
    ("8 (495) 123-45-67", "+74951234567"),
    ("84951234567", "+74951234567"),
    ("(495) 123-45-67", "+74951234567"),
    ("4951234567", "+74951234567"),
    ("74951234567", "+74951234567"),
    ("tel:+74951234567", "+74951234567"),
    ("+7 499 123 45 67", "+74991234567"),
    ("8 499 1234567", "+74991234567"),
    ("8(499)123-45-67", "+74991234567"),
    ("+7 812 123-45-67", "+78121234567"),
    ("8 (812) 123-45-67", "+78121234567"),
    ("88121234567", "+78121234567"),
    ("8121234567", "+78121234567"),
    ("(812) 123 45 67", "+78121234567"),
    ("7 812 123 45 67", "+78121234567"),
    # Other Russian regions and toll-free.
    ("+7 (843) 212-34-56", "+78432123456"),
    ("8 383 212 34 56", "+73832123456"),
    ("+7 343 123 45 67", "+73431234567"),
    ("8 (861) 123-45-67", "+78611234567"),
    ("+7 (496) 123-45-67", "+74961234567"),
    ("8 800 555-35-35", "+78005553535"),
    ("8-800-555-35-35", "+78005553535"),
    ("+7 800 555 35 35", "+78005553535"),
    # Kazakhstan shares +7; its 7xx codes must come out as +77..., not be mangled.
    ("+7 701 234 5678", "+77012345678"),
    ("8 701 234 56 78", "+77012345678"),
    ("87012345678", "+77012345678"),
    ("+7 (727) 250-12-34", "+77272501234"),
    ("+7 7172 12 34 56", "+77172123456"),
    # International numbers.
    ("+1 212-555-0123", "+12125550123"),
    ("+1 (212) 555-0123", "+12125550123"),
    ("001 212 555 0123", "+12125550123"),
    ("810 1 212 555 0123", "+12125550123"),
    ("+44 20 7123 4567", "+442071234567"),
    ("+44 (0) 20 7123 4567", "+442071234567"),
    ("+44 7911 123456", "+447911123456"),
    ("0044 7911 123456", "+447911123456"),
    ("+49 30 123456", "+4930123456"),
    ("810 49 30 123456", "+4930123456"),
    ("0049 30 123456", "+4930123456"),
    ("+49 151 23456789", "+4915123456789"),
    ("+375 29 123-45-67", "+375291234567"),
    ("+375 (29) 123-45-67", "+375291234567"),
    ("810 375 29 1234567", "+375291234567"),
    ("+375 17 123-45-67", "+375171234567"),
    ("+380 44 123 4567", "+380441234567"),
    ("+380 67 123 4567", "+380671234567"),
    ("00380671234567", "+380671234567"),
    ("+998 90 123 45 67", "+998901234567"),
    ("+998 71 123 45 67", "+998711234567"),
    ("810998901234567", "+998901234567"),
    ("+33 1 23 45 67 89", "+33123456789"),
    ("+90 212 123 45 67", "+902121234567"),
    ("+86 138 0013 8000", "+8613800138000"),
    ("+995 555 12 34 56", "+995555123456"),
    ("+374 91 123456", "+37491123456"),
    ("+994 50 123 45 67", "+994501234567"),
    ("+996 555 123 456", "+996555123456"),
    ("+992 93 123 4567", "+992931234567"),
    ("+371 2123 4567", "+37121234567"),
    ("+39 06 1234 5678", "+390612345678"),
    ("sip:+375291234567@gw", "+375291234567"),
    ("+989161234567", "+989161234567"),  # Iran, not a trunk-prefixed Russian mobile
    ("+82 2 1234 5678", "+82212345678"),  # a real +8x number, not a mistyped "+8 9xx"
]

EXTENSIONS: list[tuple[str, str]] = [
    ("101", "101"),
    ("10", "10"),
    ("1001", "1001"),
    ("12345", "12345"),
    (" 101 ", "101"),
    ("sip:101@pbx", "101"),
    ("sip:2001@10.0.0.5:5060", "2001"),
    ("<sip:305@pbx.local>", "305"),
    ("tel:102", "102"),
    ("007", "007"),
]

REJECTED: list[str | None] = [
    None,
    "",
    "   ",
    "anonymous",
    "Anonymous",
    "ANONYMOUS",
    "unknown",
    "<unknown>",
    "restricted",
    "s",
    "private",
    "unavailable",
    "sip:anonymous@anonymous.invalid",
    "sip:@pbx",
    "tel:",
    "abc",
    "+7 916 ABC-45-67",
    "8-800-FLOWERS",
    "+7 916 123-45-67 доб. 12",
    "нет",
    "*100#",
    "#31#",
    "0",
    "1",
    "+",
    "+7",
    "+101",
    "++79161234567",
    "7+9161234567",
    "--",
    "()",
    "123456",  # six digits: too long for an extension, too short for anything dialable
    "123-45-67",  # Moscow local number without the area code
    "12345678901234567890",
    "+7 000 000-00-00",
    "8 000 000 00 00",
    "989161234567",  # trunk prefix "9" not configured
]


@pytest.fixture(scope="module")
def ru() -> PhoneNormalizer:
    return PhoneNormalizer()


@pytest.mark.parametrize(("raw", "expected"), EXTERNAL)
def test_external_numbers(ru: PhoneNormalizer, raw: str, expected: str) -> None:
    assert ru.normalize(raw) == Phone("external", expected)
    assert ru.e164(raw) == expected
    assert ru.key(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), EXTENSIONS)
def test_extensions(ru: PhoneNormalizer, raw: str, expected: str) -> None:
    assert ru.normalize(raw) == Phone("extension", expected)
    assert ru.e164(raw) is None
    assert ru.key(raw) == expected


@pytest.mark.parametrize("raw", REJECTED)
def test_rejected(ru: PhoneNormalizer, raw: str | None) -> None:
    assert ru.normalize(raw) is None
    assert ru.e164(raw) is None
    assert ru.key(raw) is None


def test_table_is_large_enough() -> None:
    assert len(EXTERNAL) + len(EXTENSIONS) + len(REJECTED) >= 120


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+7 100 123 45 67", "+71001234567"),
        ("8 100 123 45 67", "+71001234567"),
        ("+972 50 123 4567", "+972501234567"),
    ],
)
def test_invalid_but_possible_numbers_are_kept(ru: PhoneNormalizer, raw: str, expected: str) -> None:
    # Metadata says no such range (yet); a number of the right length must still not be lost.
    assert not phonenumbers.is_valid_number(phonenumbers.parse(expected))
    assert ru.e164(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("989161234567", MOBILE),
        ("9 8 916 123 45 67", MOBILE),
        ("99161234567", MOBILE),
        ("984951234567", "+74951234567"),
        ("9810 49 30 123456", "+4930123456"),
        ("9 8 800 555 35 35", "+78005553535"),
        # Valid as dialled: the leading 9 is the number itself, not a trunk prefix.
        ("9161234567", MOBILE),
        ("89161234567", MOBILE),
        ("+989161234567", "+989161234567"),
    ],
)
def test_trunk_prefix_stripped_only_when_it_yields_a_valid_number(raw: str, expected: str) -> None:
    assert PhoneNormalizer(trunk_prefixes=("9",)).e164(raw) == expected


def test_trunk_prefix_does_not_touch_extensions() -> None:
    normalizer = PhoneNormalizer(trunk_prefixes=("9",))
    assert normalizer.normalize("901") == Phone("extension", "901")


def test_several_trunk_prefixes() -> None:
    normalizer = PhoneNormalizer(trunk_prefixes=("0", "9"))
    assert normalizer.e164("089161234567") == MOBILE
    assert normalizer.e164("989161234567") == MOBILE
    assert normalizer.e164("179161234567") is None


def test_longer_trunk_prefix_wins() -> None:
    # "99" then a 10-digit number: stripping only "9" leaves "9916..." which is invalid anyway,
    # but with both configured the longer one must be tried first.
    normalizer = PhoneNormalizer(trunk_prefixes=("9", "99"))
    assert normalizer.e164("999161234567") == MOBILE


@pytest.mark.parametrize(
    ("max_digits", "raw", "expected"),
    [
        (3, "101", Phone("extension", "101")),
        (3, "1001", None),
        (4, "1001", Phone("extension", "1001")),
        (6, "123456", Phone("extension", "123456")),
        (2, "10", Phone("extension", "10")),
        (2, "101", None),
    ],
)
def test_max_extension_digits(max_digits: int, raw: str, expected: Phone | None) -> None:
    assert PhoneNormalizer(max_extension_digits=max_digits).normalize(raw) == expected


def test_other_default_region() -> None:
    de = PhoneNormalizer(default_region="DE")
    assert de.e164("030 123456") == "+4930123456"
    assert de.e164("0151 23456789") == "+4915123456789"
    assert de.e164("+7 916 123-45-67") == MOBILE
    assert PhoneNormalizer(default_region="de").e164("030 123456") == "+4930123456"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_extension_digits": 1}, "max_extension_digits"),
        ({"trunk_prefixes": ("9a",)}, "trunk prefix"),
        ({"trunk_prefixes": ("",)}, "trunk prefix"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PhoneNormalizer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+79161234567", "+7 916 123-45-67"),
        ("+74951234567", "+7 495 123-45-67"),
        ("+78121234567", "+7 812 123-45-67"),
        ("+78005553535", "+7 800 555-35-35"),
        ("+12125550123", "+1 212-555-0123"),
        ("+442071234567", "+44 20 7123 4567"),
        ("+4930123456", "+49 30 123456"),
        ("+375291234567", "+375 29 123-45-67"),
        ("+998901234567", "+998 90 123 45 67"),
        ("not a number", "not a number"),
        ("", ""),
    ],
)
def test_format_for_reading(e164: str, expected: str) -> None:
    assert format_for_reading(e164) == expected


def test_phone_is_immutable() -> None:
    phone = Phone("external", MOBILE)
    with pytest.raises(AttributeError):
        phone.value = "+70000000000"  # type: ignore[misc]
