"""Which Asterisk channels are the clinic's phones, which are outside lines: the clinic's rules."""

from __future__ import annotations

import pytest

from pbx.channels import ChannelClassifier


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PJSIP/101-0000002a", ("phone", "101")),
        ("SIP/10-00000001", ("phone", "10")),
        ("PJSIP/12345-0000002a", ("phone", "12345")),
        ("PJSIP/123456-0000002a", ("trunk", None)),  # 6 digits: more than max_extension_digits
        ("SIP/150010001-00000028", ("trunk", None)),
        ("PJSIP/trunk-0000000b", ("trunk", None)),
        ("SIP/voipgrid-siproute-0000001b", ("trunk", None)),
        ("PJSIP/reception-00000003", ("trunk", None)),
        ("Local/101@phones-00000001;1", ("local", None)),
        ("PJSIP/7-00000001", ("trunk", None)),  # one digit is no extension
    ],
)
def test_the_defaults_keep_phones_as_endpoints_named_by_2_to_5_digits(
    name: str, expected: tuple[str, str | None]
) -> None:
    assert ChannelClassifier().classify(name) == expected


def test_max_extension_digits_moves_the_default_rule() -> None:
    assert ChannelClassifier(max_extension_digits=3).classify("PJSIP/1001-00000001") == ("trunk", None)
    assert ChannelClassifier(max_extension_digits=8).classify("PJSIP/15001000-00000001")[0] == "phone"


def test_phones_named_by_account_codes_are_known_by_their_extension() -> None:
    rules = ChannelClassifier(extensions={"150010001": "201", "SIP/150010002": "202"})
    assert rules.classify("SIP/150010001-00000028") == ("phone", "201")
    assert rules.classify("PJSIP/150010001-00000028") == ("phone", "201"), "any technology"
    assert rules.classify("SIP/150010002-00000029") == ("phone", "202")
    assert rules.classify("PJSIP/150010002-00000029") == ("trunk", None), "only SIP/150010002 was named"
    assert rules.classify("PJSIP/101-00000001") == ("phone", "101"), "the default rule still holds"
    # Click-to-call rings the phone an extension names.
    assert (rules.endpoint_for("201"), rules.endpoint_for("202"), rules.endpoint_for("101")) == (
        "150010001",
        "150010002",
        "101",
    )


def test_named_phones_and_patterns() -> None:
    rules = ChannelClassifier(
        phones=["reception", "SIP/lab"],
        phone_patterns=[r"[0-9a-f]{12}", r"1500\d{5}"],
        trunk_patterns=[r"voipgrid-.*"],
    )
    assert rules.classify("PJSIP/reception-00000001") == ("phone", "reception")
    assert rules.classify("SIP/lab-00000002") == ("phone", "lab")
    assert rules.classify("PJSIP/lab-00000002") == ("trunk", None)
    assert rules.classify("SIP/0004f2a1b2c3-00000003") == ("phone", "0004f2a1b2c3")
    assert rules.classify("SIP/150010003-00000004") == ("phone", "150010003")
    assert rules.classify("SIP/voipgrid-siproute-00000005") == ("trunk", None)
    # Patterns replace the default rule: plain extensions are no phones here unless matched.
    assert rules.classify("PJSIP/101-00000006") == ("trunk", None)


def test_the_first_matching_rule_decides() -> None:
    rules = ChannelClassifier(
        phones=["100"], trunks=["101", "PJSIP/operator"], trunk_patterns=[r"1\d\d"], extensions={"199": "299"}
    )
    assert rules.classify("PJSIP/101-00000001") == ("trunk", None), "listed trunks before phone patterns"
    assert rules.classify("PJSIP/100-00000001") == ("phone", "100"), "listed phones before trunk patterns"
    assert rules.classify("PJSIP/199-00000001") == ("phone", "299"), "mapped endpoints are listed phones"
    assert rules.classify("PJSIP/150-00000001") == ("trunk", None), "trunk patterns before phone patterns"
    assert rules.classify("PJSIP/operator-00000001") == ("trunk", None)
    assert rules.classify("PJSIP/42-00000001") == ("phone", "42")


def test_a_pattern_must_match_the_whole_endpoint() -> None:
    rules = ChannelClassifier(trunk_patterns=["trunk"])
    assert rules.classify("PJSIP/trunk-00000001") == ("trunk", None)
    assert ChannelClassifier(phone_patterns=["recep"]).classify("PJSIP/reception-00000001")[0] == "trunk"


def test_contradictions_and_bad_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="both as phones and as trunks"):
        ChannelClassifier(phones=["101"], trunks=["101"])
    with pytest.raises(ValueError, match="not a regular expression"):
        ChannelClassifier(trunk_patterns=["voipgrid-("])
