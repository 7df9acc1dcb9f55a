"""A call's branch: attribution's, else the clinic number's, else the operator's extension."""

from __future__ import annotations

from kolokol.calls.branches import BranchRules
from kolokol.phones import PhoneNormalizer

E164 = PhoneNormalizer("RU", 5).e164
RULES = BranchRules.build({"8 (495) 123-45-67": "Center", "+74957654321": "North"}, {"201": "South"}, E164)


def branch(**kw: object) -> str | None:
    call: dict[str, object] = {
        "attributed": None,
        "direction": "inbound",
        "caller": "+79161234567",
        "called": "+74951234567",
        "operator": "201",
        "answered_by": None,
    }
    call.update(kw)
    return RULES.branch_of(e164=E164, **call)  # type: ignore[arg-type]


def test_attribution_wins() -> None:
    assert branch(attributed="Tracking branch") == "Tracking branch"


def test_the_number_dialled_names_the_branch_of_an_inbound_call_however_it_was_written() -> None:
    assert branch() == "Center"
    assert branch(called="84957654321") == "North"


def test_the_outgoing_line_names_the_branch_of_an_outbound_call() -> None:
    assert branch(direction="outbound", caller="+74957654321", called="+79161234567") == "North"


def test_else_the_operators_extension() -> None:
    assert branch(called="+74950000000") == "South"
    assert branch(called="+74950000000", operator=None, answered_by="201") == "South"


def test_no_rule_no_branch() -> None:
    assert branch(called="+74950000000", operator="999") is None
    assert (
        BranchRules().branch_of(
            attributed=None,
            direction="inbound",
            caller="1",
            called="2",
            operator="3",
            answered_by=None,
            e164=E164,
        )
        is None
    )
