"""Section D rules decided purely: the event lifecycle (R-D4)."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from qrun.contract.builders import T0, at
from qrun.core.topics import EventRefused, EventStatus, Settle, TopicEvent, reserve, settle

E = TopicEvent(id="e1", topic="t", published_at=T0, payload={"k": 1})


def test_r_d4_pending_reserved_consumed():
    r = reserve(E, "c1", at(1), at(30))
    assert (r.status, r.reserved_by, r.reserved_until, r.deliveries) == (
        EventStatus.RESERVED,
        "c1",
        at(30),
        1,
    )
    done = settle(r, "c1", Settle.CONSUME, at(2))
    assert (done.status, done.settled_at, done.reserved_by) == (EventStatus.CONSUMED, at(2), None)


def test_r_d4_release_makes_it_pending_again_and_skip_sets_it_aside_with_the_reason():
    r = reserve(E, "c1", at(1), at(30))
    assert settle(r, "c1", Settle.RELEASE, at(2), "boom").status is EventStatus.PENDING
    skipped = settle(r, "c1", Settle.SKIP, at(2), "bad payload")
    assert (skipped.status, skipped.note) == (EventStatus.SKIPPED, "bad payload")
    assert not skipped.available(at(10**6))


def test_r_d4_only_the_holder_of_the_current_reservation_settles():
    r = reserve(E, "c1", at(1), at(30))
    with pytest.raises(EventRefused, match="not reserved by c2"):
        settle(r, "c2", Settle.CONSUME, at(2))
    taken = reserve(r, "c2", at(30), at(60))  # c1's reservation ran out
    with pytest.raises(EventRefused, match="not reserved by c1"):
        settle(taken, "c1", Settle.CONSUME, at(31))
    with pytest.raises(EventRefused, match="not available"):
        reserve(taken, "c3", at(31), at(90))


def test_bad_events_are_refused_clearly():
    with pytest.raises(ValueError, match="payload must be plain JSON"):
        TopicEvent(id="e", topic="t", published_at=T0, payload={"x": {1, 2}})
    with pytest.raises(ValueError, match="topic must be a non-empty string"):
        TopicEvent(id="e", topic="", published_at=T0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2"]), st.sampled_from(list(Settle)) | st.none(), st.integers(0, 90)
        )
    )
)
def test_r_d4_an_event_is_never_lost_and_consumed_at_most_once(steps):
    """Any sequence of reserve and settle attempts: the event is consumed at most once, and
    while it is not consumed or skipped, it is available again by some later time."""
    e, now, consumed = E, T0, 0
    for consumer, how, gap in steps:
        now += timedelta(seconds=gap)
        try:
            e = (
                reserve(e, consumer, now, now + timedelta(seconds=30))
                if how is None
                else settle(e, consumer, how, now)
            )
        except EventRefused:
            continue
        consumed += e.status is EventStatus.CONSUMED and how is Settle.CONSUME
        assert consumed <= 1
    if e.status in (EventStatus.PENDING, EventStatus.RESERVED):
        assert e.available(now + timedelta(seconds=31))
