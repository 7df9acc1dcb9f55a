"""The attribution scorer: every case, its reasons and how sure it is (pure, milliseconds)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from calltracking.attribution import (
    EarlierCall,
    LeaseRow,
    Place,
    StaticNumber,
    Tracked,
    Visit,
    attribute,
    report_columns,
)

RING = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
POOL_NUMBER = "+74951110021"
OTHER_POOL_NUMBER = "+74951110022"
FALLBACK = "+74951110029"
CALLER = "+79161234567"
CENTER = Place("clinic-main", "center", "Центр")
POOL = Tracked(pool=CENTER)

PAID = Visit(
    "s-paid",
    channel="paid",
    source="yandex",
    medium="cpc",
    campaign="implants",
    term="имплант цена",
    landing_page="https://clinic.example/implants",
    yclid="y1",
    ym_client_id="ym-1",
)
ORGANIC = Visit("s-organic", channel="organic", source="google", medium="organic")
REFERRAL = Visit("s-referral", channel="referral", source="prodoctorov.ru")


def lease(
    visit: Visit,
    start: timedelta,
    end: timedelta,
    *,
    confirmed: bool = True,
    overflow: bool = False,
    place: Place = CENTER,
) -> LeaseRow:
    """A lease from ``RING - start`` to ``RING - end`` (negative ``end``: still live at the ring)."""
    began = RING - start
    return LeaseRow(
        visit,
        place,
        began,
        RING - end,
        began + timedelta(seconds=30) if confirmed else None,
        overflow,
    )


def earlier(
    visit: Visit, *, ago: timedelta, number: str = POOL_NUMBER, confidence: float = 0.97
) -> EarlierCall:
    return EarlierCall(RING - ago, visit, CENTER.site, CENTER.pool, number, confidence)


MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def test_an_untracked_number_is_a_direct_call_for_sure() -> None:
    source = attribute("+74951110001", CALLER, RING, None)
    assert source["kind"] == "direct"
    assert source["channel"] == "direct"
    assert source["tracking_number"] is None and source["session"] is None and source["site"] is None
    assert (source["confidence"], source["reasons"], source["ambiguous"]) == (
        1.0,
        ["untracked-number"],
        False,
    )


def test_a_static_number_gives_its_source() -> None:
    billboard = StaticNumber(
        "+74951110050", branch="Север", source="billboard", medium="outdoor", campaign="metro-2026"
    )
    source = attribute("+74951110050", CALLER, RING, Tracked(static=billboard))
    assert source["kind"] == "static"
    assert source["tracking_number"] == "+74951110050"
    assert (source["channel"], source["source"], source["medium"], source["campaign"]) == (
        "offline",
        "billboard",
        "outdoor",
        "metro-2026",
    )
    assert source["branch"] == "Север"
    assert source["session"] is None
    assert (source["confidence"], source["reasons"], source["ambiguous"]) == (1.0, ["static-number"], False)


def test_a_live_lease_gives_its_session_and_the_session_source() -> None:
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, 3 * MIN, -2 * MIN)])
    assert source["kind"] == "pool"
    assert (source["tracking_number"], source["site"], source["pool"], source["branch"]) == (
        POOL_NUMBER,
        "clinic-main",
        "center",
        "Центр",
    )
    assert source["session"] == "s-paid"
    assert (source["channel"], source["source"], source["medium"], source["campaign"]) == (
        "paid",
        "yandex",
        "cpc",
        "implants",
    )
    assert (source["term"], source["yclid"], source["ym_client_id"]) == ("имплант цена", "y1", "ym-1")
    assert source["landing_page"] == "https://clinic.example/implants"
    assert source["reasons"] == ["lease-active"]
    assert source["confidence"] >= 0.95
    assert source["ambiguous"] is False


def test_an_unconfirmed_live_lease_is_less_sure() -> None:
    # Somebody who left the page lately might be calling back; a page that has not heartbeat yet may be
    # a bot's, so the live lease's share is smaller.
    left = lease(ORGANIC, 30 * MIN, 5 * MIN)
    confirmed = attribute(POOL_NUMBER, CALLER, RING, POOL, [left, lease(PAID, 3 * MIN, -2 * MIN)])
    young = attribute(
        POOL_NUMBER, CALLER, RING, POOL, [left, lease(PAID, timedelta(seconds=20), -MIN, confirmed=False)]
    )
    assert confirmed["reasons"] == ["lease-active"]
    assert young["session"] == "s-paid"
    assert young["reasons"] == ["lease-active", "lease-unconfirmed"]
    assert 0.5 < young["confidence"] < confirmed["confidence"] < 1.0


def test_a_lease_confirmed_after_the_ring_counts_as_unconfirmed_at_the_ring() -> None:
    row = LeaseRow(PAID, CENTER, RING - MIN, RING + 5 * MIN, RING + timedelta(seconds=10), False)
    assert attribute(POOL_NUMBER, CALLER, RING, POOL, [row])["reasons"] == [
        "lease-active",
        "lease-unconfirmed",
    ]


def test_leases_that_began_after_the_ring_change_nothing() -> None:
    before = [lease(PAID, 3 * MIN, -2 * MIN)]
    later = LeaseRow(ORGANIC, CENTER, RING + MIN, RING + 10 * MIN, RING + 2 * MIN, False)
    assert attribute(POOL_NUMBER, CALLER, RING, POOL, [*before, later]) == attribute(
        POOL_NUMBER, CALLER, RING, POOL, before
    )


def test_the_live_lease_wins_over_the_one_that_ended_before_it() -> None:
    rows = [lease(ORGANIC, 40 * MIN, 20 * MIN), lease(PAID, 10 * MIN, -5 * MIN)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows)
    assert source["session"] == "s-paid"
    assert source["reasons"] == ["lease-active"]
    assert source["ambiguous"] is False


def test_a_call_after_the_lease_ended_goes_to_it_less_surely_as_time_passes() -> None:
    soon = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, 20 * MIN, 5 * MIN)])
    later = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, 3 * HOUR, 2 * HOUR)])
    much_later = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, 9 * HOUR, 8 * HOUR)])
    for source in (soon, later, much_later):
        assert source["session"] == "s-paid"
        assert source["reasons"] == ["lease-expired"]
    assert soon["confidence"] > later["confidence"] > much_later["confidence"]
    assert soon["confidence"] >= 0.8 and soon["ambiguous"] is False


def test_a_number_leased_to_others_since_goes_to_the_latest_holder_flagged() -> None:
    rows = [
        lease(ORGANIC, 2 * HOUR, 90 * MIN),
        lease(PAID, 50 * MIN, 30 * MIN),
        lease(REFERRAL, 20 * MIN, 10 * MIN),
    ]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows)
    assert source["session"] == "s-referral"
    assert source["channel"] == "referral"
    assert source["reasons"] == ["lease-moved-on"]
    assert source["ambiguous"] is True
    assert source["confidence"] < 0.6


def test_a_never_confirmed_lease_in_between_does_not_hide_the_real_visitor() -> None:
    # A bot took the number for a minute after the visitor left.
    rows = [lease(PAID, 30 * MIN, 10 * MIN), lease(ORGANIC, 9 * MIN, 8 * MIN, confirmed=False)]
    assert attribute(POOL_NUMBER, CALLER, RING, POOL, rows)["session"] == "s-paid"


def test_a_number_dialled_days_after_any_lease_is_a_saved_number() -> None:
    rows = [lease(ORGANIC, 6 * DAY, 6 * DAY - 10 * MIN), lease(PAID, 3 * DAY, 3 * DAY - 5 * MIN)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows)
    assert source["session"] == "s-paid"
    assert source["channel"] == "paid"
    assert source["reasons"] == ["saved-number"]
    assert source["ambiguous"] is True
    assert source["confidence"] < 0.5


def test_a_pool_number_nobody_held_lately_names_the_pool_and_no_session() -> None:
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [])
    assert (source["kind"], source["site"], source["pool"], source["session"]) == (
        "pool",
        "clinic-main",
        "center",
        None,
    )
    assert (source["confidence"], source["reasons"], source["ambiguous"]) == (0.0, ["no-lease-history"], True)


def test_a_repeat_caller_on_the_number_they_dialled_before_keeps_their_session() -> None:
    # Their visit was days ago; the number is leased to somebody else now.
    rows = [lease(PAID, 5 * DAY, 5 * DAY - 10 * MIN), lease(ORGANIC, 4 * MIN, -MIN)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, [earlier(PAID, ago=5 * DAY - 5 * MIN)])
    assert source["session"] == "s-paid"
    assert source["reasons"] == ["repeat-caller", "lease-active-other"]
    assert source["ambiguous"] is True


def test_a_repeat_caller_on_a_free_number_they_dialled_before_is_fairly_sure() -> None:
    rows = [lease(PAID, 2 * DAY, 2 * DAY - 10 * MIN)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, [earlier(PAID, ago=2 * DAY - 5 * MIN)])
    assert source["session"] == "s-paid"
    assert source["reasons"] == ["repeat-caller", "saved-number"]
    assert source["confidence"] >= 0.9
    assert source["ambiguous"] is False


def test_a_repeat_caller_inherits_a_weak_earlier_guess_as_weak() -> None:
    rows = [lease(PAID, 2 * DAY, 2 * DAY - 10 * MIN)]
    history = [earlier(PAID, ago=DAY, confidence=0.2)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, history)
    assert source["session"] == "s-paid"
    assert source["confidence"] < 0.5 and source["ambiguous"] is True


def test_a_repeat_caller_agreeing_with_the_live_lease_is_surest() -> None:
    rows = [lease(PAID, 3 * MIN, -MIN)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, [earlier(PAID, ago=HOUR)])
    assert source["session"] == "s-paid"
    assert source["reasons"] == ["lease-active", "repeat-caller"]
    assert source["confidence"] >= 0.99
    assert source["ambiguous"] is False


def test_a_repeat_caller_whose_session_held_this_number_earlier_gets_it_back() -> None:
    # Their earlier call went to another number of the pool; their session was also shown this one.
    rows = [lease(PAID, 3 * HOUR, 2 * HOUR), lease(ORGANIC, 60 * MIN, 30 * MIN)]
    history = [earlier(PAID, ago=150 * MIN, number=OTHER_POOL_NUMBER)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, history)
    assert source["session"] == "s-paid"
    assert source["reasons"] == ["repeat-caller"]


def test_a_repeat_caller_on_a_number_their_session_never_held_came_through_another_visit() -> None:
    rows = [lease(ORGANIC, 3 * MIN, -MIN)]
    history = [earlier(PAID, ago=3 * DAY, number=OTHER_POOL_NUMBER)]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, history)
    assert source["session"] == "s-organic"
    assert source["reasons"] == ["lease-active", "repeat-caller-elsewhere"]
    assert source["ambiguous"] is True


def test_history_of_another_pool_or_after_the_ring_is_not_used() -> None:
    rows = [lease(ORGANIC, 3 * MIN, -MIN)]
    other_pool = EarlierCall(RING - DAY, PAID, "clinic-main", "north", POOL_NUMBER, 0.97)
    later = EarlierCall(RING + MIN, PAID, "clinic-main", "center", POOL_NUMBER, 0.97)
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows, [other_pool, later])
    assert (source["session"], source["reasons"]) == ("s-organic", ["lease-active"])


def test_a_hidden_caller_says_so() -> None:
    source = attribute(POOL_NUMBER, None, RING, POOL, [lease(PAID, 3 * MIN, -MIN)])
    assert source["reasons"] == ["lease-active", "caller-hidden"]
    assert source["session"] == "s-paid"


FALLBACK_OF = Tracked(fallback_of=(CENTER,))


def test_the_one_session_shown_the_fallback_gets_the_call_less_surely_than_on_a_pool_number() -> None:
    rows = [lease(PAID, 2 * MIN, -3 * MIN, overflow=True)]
    source = attribute(FALLBACK, CALLER, RING, FALLBACK_OF, rows)
    on_pool = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, 2 * MIN, -3 * MIN)])
    assert (source["kind"], source["session"], source["tracking_number"]) == ("pool", "s-paid", FALLBACK)
    assert (source["site"], source["pool"]) == ("clinic-main", "center")
    assert source["reasons"] == ["overflow-fallback"]
    assert 0.5 <= source["confidence"] < on_pool["confidence"]
    assert source["ambiguous"] is False


def test_several_sessions_shown_the_fallback_make_it_ambiguous() -> None:
    rows = [
        lease(PAID, 2 * MIN, -3 * MIN, overflow=True),
        lease(ORGANIC, MIN, -4 * MIN, overflow=True),
        lease(REFERRAL, 4 * MIN, -MIN, overflow=True),
    ]
    source = attribute(FALLBACK, CALLER, RING, FALLBACK_OF, rows)
    assert source["reasons"] == ["overflow-fallback"]
    assert source["session"] in {"s-paid", "s-organic", "s-referral"}
    assert source["ambiguous"] is True
    assert source["confidence"] < 0.5


def test_a_fallback_nobody_was_shown_lately_is_the_sites_direct_call() -> None:
    rows = [lease(PAID, 3 * DAY, 3 * DAY - 5 * MIN, overflow=True)]
    for history in ([], rows):
        source = attribute(FALLBACK, CALLER, RING, FALLBACK_OF, history)
        assert source["kind"] == "direct"
        assert source["channel"] == "direct"
        assert (source["site"], source["pool"], source["branch"]) == ("clinic-main", "center", "Центр")
        assert source["tracking_number"] == FALLBACK
        assert source["session"] is None
        assert source["reasons"] == ["overflow-fallback", "no-overflow-session"]


def test_a_public_fallback_is_less_surely_the_overflow_visitor() -> None:
    rows = [lease(PAID, 2 * MIN, -3 * MIN, overflow=True)]
    dedicated = attribute(FALLBACK, CALLER, RING, FALLBACK_OF, rows)
    public_place = Place("clinic-main", "center", "Центр", public_fallback=True)
    public_rows = [lease(PAID, 2 * MIN, -3 * MIN, overflow=True, place=public_place)]
    public = attribute(FALLBACK, CALLER, RING, Tracked(fallback_of=(public_place,)), public_rows)
    assert public["session"] == dedicated["session"] == "s-paid"
    assert public["confidence"] < 0.5 < dedicated["confidence"]
    assert (public["ambiguous"], dedicated["ambiguous"]) == (True, False)


def test_overflow_rows_and_pool_leases_do_not_mix() -> None:
    # A pool number's scorer ignores overflow rows; a fallback's ignores ordinary leases.
    overflow = [lease(PAID, 2 * MIN, -3 * MIN, overflow=True)]
    assert attribute(POOL_NUMBER, CALLER, RING, POOL, overflow)["reasons"] == ["no-lease-history"]
    ordinary = [lease(PAID, 2 * MIN, -3 * MIN)]
    assert attribute(FALLBACK, CALLER, RING, FALLBACK_OF, ordinary)["session"] is None


def test_a_static_number_wins_over_anything_else_known_about_it() -> None:
    both = Tracked(static=StaticNumber(POOL_NUMBER, source="leaflet"), pool=CENTER)
    assert attribute(POOL_NUMBER, CALLER, RING, both, [lease(PAID, MIN, -MIN)])["kind"] == "static"


def test_every_answer_has_the_contract_fields() -> None:
    fields = {
        "kind", "tracking_number", "site", "pool", "branch", "session", "channel", "source", "medium",
        "campaign", "content", "term", "referrer", "landing_page", "gclid", "yclid", "ga_client_id",
        "ym_client_id", "confidence", "reasons", "ambiguous",
    }  # fmt: skip
    answers = [
        attribute("+74951110001", CALLER, RING, None),
        attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, MIN, -MIN)]),
        attribute(FALLBACK, None, RING, FALLBACK_OF, []),
    ]
    for answer in answers:
        assert set(answer) == fields
        assert 0.0 <= answer["confidence"] <= 1.0
        assert answer["reasons"]


def test_report_columns_copy_the_source() -> None:
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(PAID, MIN, -MIN)])
    columns = report_columns(source)
    assert columns["attr_kind"] == "pool"
    assert columns["attr_session"] == "s-paid"
    assert columns["attr_campaign"] == "implants"
    assert columns["attr_landing_page"] == "https://clinic.example/implants"
    assert columns["attr_pool"] == "center"
    assert columns["attr_confidence"] == source["confidence"]
    assert set(report_columns(None).values()) == {None}


# --- a live lease whose page went quiet; the likeliest source -----------------------------------------

BEAT = timedelta(seconds=30)
PAID_TOO = Visit("s-paid-2", channel="paid", source="yandex", medium="cpc", campaign="implants")


def seen(row: LeaseRow, last_heartbeat: timedelta) -> LeaseRow:
    """``row`` with its page's last heartbeat at ``RING - last_heartbeat`` and a 30 s heartbeat."""
    return replace(row, last_heartbeat_at=RING - last_heartbeat, heartbeat=BEAT)


def test_a_live_lease_whose_page_heartbeat_moments_ago_is_the_caller() -> None:
    # A visitor who taps the number calls within a heartbeat or two of the page's last one.
    row = seen(lease(PAID, 3 * MIN, -4 * MIN), timedelta(seconds=50))
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(ORGANIC, 40 * MIN, 20 * MIN), row])
    assert (source["session"], source["reasons"], source["ambiguous"]) == ("s-paid", ["lease-active"], False)
    assert source["confidence"] >= 0.9


def test_a_heartbeat_after_the_ring_means_the_page_was_open_at_the_ring() -> None:
    # The call record is scored after the call ended: heartbeats after the ring mean an open page.
    row = seen(lease(PAID, 3 * MIN, -4 * MIN), -MIN)
    assert attribute(POOL_NUMBER, CALLER, RING, POOL, [row])["reasons"] == ["lease-active"]


def test_a_live_lease_whose_page_went_quiet_is_weighed_like_a_visitor_who_left() -> None:
    # The holder left the page four minutes ago (its lease lives on for the hold); another visitor left
    # the number's page twenty minutes ago: either may be calling back, so neither is sure.
    on_hold = seen(lease(PAID, 8 * MIN, -MIN), 4 * MIN)
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [lease(ORGANIC, 30 * MIN, 20 * MIN), on_hold])
    assert source["session"] == "s-paid"
    assert source["reasons"] == ["lease-on-hold"]
    assert source["ambiguous"] is True
    assert source["confidence"] < 0.7
    # With the page still open the same holder would be all but certain.
    open_page = attribute(
        POOL_NUMBER, CALLER, RING, POOL, [lease(ORGANIC, 30 * MIN, 20 * MIN), seen(on_hold, 20 * BEAT / 30)]
    )
    assert open_page["reasons"] == ["lease-active"] and open_page["confidence"] > 0.9


def test_a_quiet_holder_nobody_else_could_be_is_still_named_surely() -> None:
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [seen(lease(PAID, 8 * MIN, -MIN), 4 * MIN)])
    assert (source["session"], source["reasons"], source["ambiguous"]) == ("s-paid", ["lease-on-hold"], False)
    assert source["confidence"] >= 0.9


def test_among_visitors_who_left_the_source_most_of_them_shared_is_the_guess() -> None:
    # The organic visitor left last, but two visitors of the same campaign left shortly before: the
    # caller is likelier one of them, and the report by campaign likelier right with them.
    rows = [
        lease(PAID, 60 * MIN, 30 * MIN),
        lease(PAID_TOO, 45 * MIN, 28 * MIN),
        lease(ORGANIC, 40 * MIN, 25 * MIN),
    ]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows)
    assert source["session"] == "s-paid-2"
    assert (source["channel"], source["source"], source["campaign"]) == ("paid", "yandex", "implants")
    assert source["reasons"] == ["lease-moved-on"]
    assert source["ambiguous"] is True


def test_the_live_holder_outweighs_any_crowd_of_visitors_who_left() -> None:
    rows = [
        lease(PAID, 60 * MIN, 30 * MIN),
        lease(PAID_TOO, 45 * MIN, 28 * MIN),
        lease(ORGANIC, 5 * MIN, -MIN),
    ]
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, rows)
    assert (source["session"], source["reasons"]) == ("s-organic", ["lease-active"])


def test_visitors_who_left_are_weighed_by_when_they_left_the_page_not_by_when_their_lease_ended() -> None:
    # The organic visitor's page went quiet eight minutes before the ring (their lease ended three
    # minutes before it, after the hold); the paid visitor's four minutes before (their lease lives on).
    left_earlier = seen(lease(ORGANIC, 20 * MIN, 3 * MIN), 8 * MIN)
    left_later = seen(lease(PAID, 10 * MIN, -MIN), 4 * MIN)
    source = attribute(POOL_NUMBER, CALLER, RING, POOL, [left_earlier, left_later])
    assert (source["session"], source["reasons"]) == ("s-paid", ["lease-on-hold"])
    assert source["ambiguous"] is True
