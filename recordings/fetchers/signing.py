"""How the providers' recording APIs want their requests signed: pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import urlencode


def mango_form(vpbx_api_key: str, vpbx_api_salt: str, payload: Mapping[str, object]) -> dict[str, str]:
    """The form of a Mango Office VPBX API request: the key, the JSON, and sha256(key + json + salt).

    The signature covers the JSON text exactly as sent, so it is serialized once here."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    sign = hashlib.sha256(f"{vpbx_api_key}{text}{vpbx_api_salt}".encode()).hexdigest()
    return {"vpbx_api_key": vpbx_api_key, "sign": sign, "json": text}


def zadarma_query(params: Mapping[str, str]) -> str:
    """The query string Zadarma signs and expects: keys sorted, form-encoded (spaces as ``+``)."""
    return urlencode(sorted(params.items()))


def zadarma_authorization(api_key: str, api_secret: str, method: str, params: Mapping[str, str]) -> str:
    """The ``Authorization`` header of a Zadarma API v1 request.

    ``method`` is the API path (``/v1/pbx/record/request/``). Zadarma signs ``method + query +
    md5_hex(query)`` with HMAC-SHA1 and base64-encodes the *hex* digest, not the raw bytes."""
    query = zadarma_query(params)
    checksum = hashlib.md5(query.encode(), usedforsecurity=False).hexdigest()
    signed = f"{method}{query}{checksum}"
    digest = hmac.new(api_secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return f"{api_key}:{base64.b64encode(digest.encode()).decode()}"


def basic_authorization(user: str, password: str) -> str:
    """HTTP Basic credentials (Twilio: AccountSid and auth token)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
