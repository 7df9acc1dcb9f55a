"""Phone identification settings (phones.endpoints, endpoint_patterns, trunk_endpoints,
trunk_endpoint_patterns, extensions): read from the file and the environment, refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from kolokol.calls.wiring import make_classifier
from kolokol.settings import Settings, SettingsError, load_settings


def configured(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    config = tmp_path / "k.toml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, environ=environ or {})


def test_the_clinics_rules_reach_the_classifier(tmp_path: Path) -> None:
    settings = configured(
        tmp_path,
        """
[phones]
endpoints = ["reception"]
trunk_endpoint_patterns = ['voipgrid-.*']

[phones.extensions]
150010001 = 201
"SIP/150010002" = "202"
""",
    )
    rules = make_classifier(settings)
    assert rules.classify("SIP/150010001-00000001") == ("phone", "201")
    assert rules.classify("SIP/150010002-00000001") == ("phone", "202")
    assert rules.classify("PJSIP/reception-00000001") == ("phone", "reception")
    assert rules.classify("SIP/voipgrid-siproute-00000001") == ("trunk", None)
    assert rules.classify("PJSIP/101-00000001") == ("phone", "101")


def test_the_defaults_are_todays_rule() -> None:
    rules = make_classifier(Settings())
    assert rules.classify("PJSIP/101-00000001") == ("phone", "101")
    assert rules.classify("PJSIP/123456-00000001") == ("trunk", None)
    wide = make_classifier(Settings.model_validate({"phones": {"max_extension_digits": 6}}))
    assert wide.classify("PJSIP/123456-00000001") == ("phone", "123456")


def test_the_environment_sets_them_too(tmp_path: Path) -> None:
    settings = configured(
        tmp_path,
        "",
        {
            "KOLOKOL_PHONES__ENDPOINTS": "reception, lab",
            "KOLOKOL_PHONES__ENDPOINT_PATTERNS": r"1500\d{5}|\d{2,4}",
            "KOLOKOL_PHONES__TRUNK_ENDPOINTS": "mts",
            "KOLOKOL_PHONES__EXTENSIONS": "150010001=201, 150010002=202",
        },
    )
    phones = settings.phones
    assert phones.endpoints == ("reception", "lab")
    assert phones.endpoint_patterns == (r"1500\d{5}|\d{2,4}",), "a comma belongs to the expression"
    assert phones.trunk_endpoints == ("mts",)
    assert phones.extensions == {"150010001": "201", "150010002": "202"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[phones]\nendpoint_patterns = ['1500(']\n", r"phones.endpoint_patterns.*'1500\(' is not a regular"),
        ("[phones]\ntrunk_endpoint_patterns = ['[a-']\n", "phones.trunk_endpoint_patterns"),
        ("[phones.extensions]\n150010001 = '2O1'\n", r"phones.extensions.*'2O1' is not 2-8 digits"),
        ("[phones.extensions]\nx = '201'\ny = '201'\n", "extension '201' is given to both 'x' and 'y'"),
        ("[phones]\nendpoints = ['Local/101@phones']\n", "phones.endpoints.*not an endpoint name"),
        ("[phones]\nendpoints = ['101']\ntrunk_endpoints = ['101']\n", "both as phones and as trunks"),
        (
            "[pbx.asterisk]\nusername = 'k'\nsecret = 's'\ntrunk_channel_prefixes = ['PJSIP/trunk']\n",
            "trunk_channel_prefixes is gone.*phones.trunk_endpoint",
        ),
    ],
)
def test_bad_rules_stop_start_up_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        configured(tmp_path, text)
