"""The AMI events kolokol registers for come from its consumers' handler tables, and the shipped
`asterisk_conf/manager.conf` lets exactly those through: none missing (a call would be misread), none
extra (Asterisk would send events nobody reads)."""

from __future__ import annotations

import re

from kolokol.calls.click_to_call import ClickToCall
from kolokol.phones import PhoneNormalizer
from pbx.assembler import CallAssembler
from tests.support.paths import REPO

_INCLUDE = re.compile(r"^eventfilter\(action\(include\),name\((?P<name>[A-Za-z]+)\)\)\s*=", re.MULTILINE)


def shipped_filter() -> list[str]:
    return _INCLUDE.findall((REPO / "asterisk_conf" / "manager.conf").read_text(encoding="utf-8"))


def registered() -> frozenset[str]:
    """What kolokol.calls.setup hands the AMI client."""
    return CallAssembler(PhoneNormalizer().e164).handled_events | ClickToCall.handled_events


def test_every_handled_event_passes_the_shipped_filter() -> None:
    missing = registered() - set(shipped_filter())
    assert not missing, f"add eventfilter lines to asterisk_conf/manager.conf for {sorted(missing)}"


def test_the_shipped_filter_lets_through_nothing_nobody_handles() -> None:
    unused = set(shipped_filter()) - registered()
    assert not unused, f"nothing handles {sorted(unused)}: handle them or drop their eventfilter lines"


def test_the_filter_names_each_event_once() -> None:
    names = shipped_filter()
    assert len(names) == len(set(names))
    assert names, "the filter lines were not found (format changed?)"
