"""Configuration: TOML, environment overrides, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from kolokol.settings import SettingsError, load_settings
from tests.support.paths import REPO

ROOT = REPO


def test_defaults_need_no_file() -> None:
    settings = load_settings(environ={})
    assert settings.database.url.startswith("sqlite+aiosqlite:///var/")
    assert (settings.http.port, settings.phones.default_region, settings.pbx.asterisk) == (8080, "RU", None)


def test_example_file_is_valid_and_matches_the_defaults() -> None:
    assert load_settings(ROOT / "kolokol.example.toml", environ={}) == load_settings(environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "k.toml"
    config.write_text('[pbx.asterisk]\nusername = "kolokol"\nsecret = "from-file"\n', encoding="utf-8")
    settings = load_settings(
        environ={
            "KOLOKOL_CONFIG": str(config),
            "KOLOKOL_PBX__ASTERISK__SECRET": "from-env",
            "KOLOKOL_HTTP__PORT": "9090",
            "KOLOKOL_PHONES__TRUNK_PREFIXES": "9, 0",
        }
    )
    assert settings.pbx.asterisk is not None
    assert settings.pbx.asterisk.secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings), "secrets never show in logs or reprs"
    assert settings.http.port == 9090
    assert settings.phones.trunk_prefixes == ("9", "0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[http]\nport = 'eighty'\n", "http.port"),
        ("[http]\nprot = 80\n", "http.prot"),
        ("[http\n", "not valid TOML"),
        ("[pbx.asterisk]\nhost = 'x'\n", "pbx.asterisk.username"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "k.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load_settings(config, environ={})


def test_missing_file_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings("/nonexistent/kolokol.toml", environ={})


def test_cloud_pbx_sections_come_from_the_environment_as_documented() -> None:
    settings = load_settings(
        environ={
            "KOLOKOL_PBX__MANGO_OFFICE__VPBX_API_KEY": "key",
            "KOLOKOL_PBX__MANGO_OFFICE__VPBX_API_SALT": "s3cr3t-pepper",
            "KOLOKOL_PBX__MANGO_OFFICE__ALLOW_IPS": "81.88.80.132, 81.88.82.0/24",
        }
    )
    mango = settings.pbx.mango_office
    assert mango is not None and mango.vpbx_api_key == "key"
    assert mango.vpbx_api_salt.get_secret_value() == "s3cr3t-pepper" and "s3cr3t" not in repr(settings)
    assert mango.allow_ips == ("81.88.80.132", "81.88.82.0/24")
    assert settings.pbx.zadarma is None, "an unconfigured provider is not mounted"


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("KOLOKOL_PBX__MANGO_OFFICE__ALLOW_IPS", "not-an-address", "allow_ips"),
        ("KOLOKOL_PBX__ZADARMA__TIMEZONE", "Mars/Olympus", "timezone"),
        ("KOLOKOL_PBX__TWILIO__PUBLIC_BASE_URL", "kolokol.example.clinic", "public_base_url"),
        ("KOLOKOL_PBX__GENERIC__URL_TOKEN", "short", "url_token"),
    ],
)
def test_bad_webhook_settings_name_the_key(name: str, value: str, key: str) -> None:
    base = {
        "KOLOKOL_PBX__MANGO_OFFICE__VPBX_API_KEY": "k",
        "KOLOKOL_PBX__MANGO_OFFICE__VPBX_API_SALT": "s",
        "KOLOKOL_PBX__ZADARMA__API_KEY": "k",
        "KOLOKOL_PBX__ZADARMA__API_SECRET": "s",
        "KOLOKOL_PBX__TWILIO__ACCOUNT_SID": "AC1",
        "KOLOKOL_PBX__TWILIO__AUTH_TOKEN": "t",
        "KOLOKOL_PBX__TWILIO__PUBLIC_BASE_URL": "https://kolokol.example.clinic",
        "KOLOKOL_PBX__GENERIC__SECRET": "0123456789abcdef",
    }
    with pytest.raises(SettingsError, match=key):
        load_settings(environ={**base, name: value})


def test_clinic_lines_take_any_spelling_and_refuse_what_is_no_number(tmp_path: Path) -> None:
    config = tmp_path / "kolokol.toml"
    config.write_text(
        '[lines."8 (495) 111-00-01"]\nname = "Основная линия"\nbranch = "Центр"\n', encoding="utf-8"
    )
    settings = load_settings(config, environ={})
    assert settings.lines["8 (495) 111-00-01"].branch == "Центр"
    with pytest.raises(SettingsError, match="lines: 'reception' is not a phone number"):
        load_settings(environ={"KOLOKOL_LINES__RECEPTION__NAME": "Ресепшн"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KOLOKOL_PBX__ASTERISK__ORIGINATE_CHANNEL", "PJSIP/101"),
        ("KOLOKOL_PBX__ASTERISK__ORIGINATE_CONTEXT", "phones; rm -rf"),
        ("KOLOKOL_PBX__ASTERISK__ORIGINATE_NUMBER_FORMAT", "whatever"),
        ("KOLOKOL_CONSOLE__CRM_CONTACT_URL", "javascript:alert(1)"),
    ],
)
def test_click_to_call_and_console_settings_are_checked(name: str, value: str) -> None:
    base = {"KOLOKOL_PBX__ASTERISK__USERNAME": "kolokol", "KOLOKOL_PBX__ASTERISK__SECRET": "s"}
    with pytest.raises(SettingsError, match=name.rsplit("__", 1)[1].lower()):
        load_settings(environ={**base, name: value})
