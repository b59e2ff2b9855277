"""Which recorded SMS a report is about, when operators reuse their message ids."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.domain.report_matching import (
    EARLY,
    LATE,
    Ambiguous,
    Candidate,
    Matched,
    choose,
    concerns,
    names_handset,
    read_handset,
)
from smsrelay.domain.status import AWAITING_REPORT, FINAL_STATES, State

PHONE = "+33612345678"
OTHER = "+33698765432"
NOBODY: frozenset[str] = frozenset()


def sms(
    phone: str = PHONE,
    state: State = State.SUBMITTED,
    *,
    message_id: int = 1,
    part: int | None = None,
    recipient_state: State | None = None,
) -> Candidate:
    recipient = state if recipient_state is None else recipient_state
    return Candidate(1, message_id, phone, part, state, recipient)


# -- the cases the issue names --------------------------------------------------------------


def test_a_repeated_id_lands_on_the_sms_still_awaiting_its_report() -> None:
    old = sms(state=State.DELIVERED, message_id=1)
    new = sms(message_id=2)
    assert choose("+33612345678", [old, new], NOBODY) == Matched(new)
    assert choose("+33612345678", [new, old], NOBODY) == Matched(new)


def test_a_repeated_id_lands_on_the_sms_to_the_handset_it_names() -> None:
    mine, theirs = sms(PHONE, message_id=1), sms(OTHER, message_id=2)
    assert choose(PHONE, [mine, theirs], NOBODY) == Matched(mine)
    assert choose(OTHER, [mine, theirs], NOBODY) == Matched(theirs)


def test_a_report_for_a_handset_no_candidate_has_waits_for_its_submission() -> None:
    # The id was reused for an SMS to PHONE that is not recorded yet: the SMS to OTHER,
    # awaiting or final, is not it.
    for state in (State.SUBMITTED, State.DELIVERED):
        assert choose(PHONE, [sms(OTHER, state)], NOBODY) is EARLY
    assert choose(PHONE, [], NOBODY) is EARLY
    assert choose(None, [], NOBODY) is EARLY


def test_two_sms_awaiting_a_report_are_not_guessed_between() -> None:
    one, two = sms(message_id=1), sms(state=State.ENROUTE, message_id=2)
    assert choose(PHONE, [one, two], NOBODY) == Ambiguous((one, two))


def test_without_a_handset_the_awaiting_sms_is_still_preferred() -> None:
    old, new = sms(OTHER, State.UNDELIVERABLE, message_id=1), sms(PHONE, message_id=2)
    assert choose(None, [old, new], NOBODY) == Matched(new)
    both = [sms(OTHER, message_id=1), new]
    assert choose(None, both, NOBODY) == Ambiguous(tuple(both))


def test_a_report_about_final_sms_only_is_late() -> None:
    final = [sms(state=State.DELIVERED, message_id=n) for n in (1, 2)]
    assert choose(PHONE, final, NOBODY) is LATE
    assert choose(None, final[:1], NOBODY) is LATE


def test_a_report_about_final_sms_while_one_to_its_handset_is_submitted_is_early() -> None:
    final = [sms(state=State.DELIVERED)]
    assert choose("33612345678", final, {PHONE}) is EARLY
    assert choose("33612345678", final, {OTHER}) is LATE
    assert choose(None, final, {PHONE}) is LATE  # without a handset it cannot be told


def test_a_part_awaits_a_report_only_while_it_and_its_sms_do() -> None:
    delivered_part = sms(state=State.DELIVERED, part=1, recipient_state=State.SUBMITTED)
    failed_sms = sms(part=2, recipient_state=State.FAILED, message_id=2)
    waiting_part = sms(state=State.ENROUTE, part=1, message_id=3)
    assert not delivered_part.awaiting
    assert not failed_sms.awaiting
    assert waiting_part.awaiting
    cases = [delivered_part, failed_sms, waiting_part]
    assert choose(PHONE, cases, NOBODY) == Matched(waiting_part)
    assert choose(PHONE, cases[:2], NOBODY) is LATE


# -- every combination ----------------------------------------------------------------------

STATES = sorted(AWAITING_REPORT | FINAL_STATES)
HANDSETS = [None, PHONE, "0612345678", "33698765432", "+33600000000"]


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 4))
    return [
        sms(
            draw(st.sampled_from([PHONE, OTHER])),
            draw(st.sampled_from(STATES)),
            message_id=n,
            part=draw(st.sampled_from([None, 1, 2])),
            recipient_state=draw(st.sampled_from(STATES)),
        )
        for n in range(count)
    ]


@given(
    st.sampled_from(HANDSETS),
    candidates(),
    st.sets(st.sampled_from([PHONE, OTHER])),
)
def test_the_choice_follows_the_rules_whatever_the_candidates(
    handset: str | None, found: list[Candidate], submitting: set[str]
) -> None:
    named = [c for c in found if handset is None or names_handset(handset, c.phone)]
    awaiting = [c for c in named if c.awaiting]
    match = choose(handset, found, submitting)
    if len(awaiting) == 1:
        assert match == Matched(awaiting[0])
    elif awaiting:
        assert match == Ambiguous(tuple(awaiting))
    elif not named or (handset is not None and named[0].phone in submitting):
        assert match is EARLY
    else:
        assert match is LATE
    # Whatever the order the store reads them in, the same answer (up to that order).
    for order in itertools.permutations(found):
        again = choose(handset, list(order), submitting)
        if isinstance(match, Ambiguous):
            assert isinstance(again, Ambiguous)
            assert set(again.candidates) == set(match.candidates)
        else:
            assert again == match


# -- handsets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "international", "handset"),
    [
        ("33612345678", True, "+33612345678"),
        ("+33612345678", False, "+33612345678"),
        ("33612345678", False, "33612345678"),
        ("06 12 34 56 78", False, "0612345678"),
        ("06.12.34.56.78\x00", False, "0612345678"),
        ("SMSRELAY", False, None),
        ("SMSRELAY", True, None),
        ("", True, None),
        ("+", False, None),
        ("1" * 21, True, None),
        ("٠٦١٢٣٤٥٦٧٨", False, None),  # Arabic-Indic digits: not an SMPP address
    ],
)
def test_a_receipts_address_is_read_as_a_handset(
    address: str, international: bool, handset: str | None
) -> None:
    assert read_handset(address, international) == handset


@pytest.mark.parametrize(
    "handset",
    ["+33612345678", "33612345678", "0612345678", "612345678", "0033612345678"],
)
def test_a_handset_names_its_number_in_any_form_an_operator_writes(handset: str) -> None:
    assert names_handset(handset, PHONE)


@pytest.mark.parametrize(
    "handset", ["+33698765432", "33698765432", "0698765432", "+0033612345678", "12345"]
)
def test_a_handset_does_not_name_another_number(handset: str) -> None:
    assert not names_handset(handset, PHONE)


def test_a_national_handset_is_read_in_its_recipients_region() -> None:
    assert names_handset("0620123456", "+212620123456")  # Morocco's national form
    assert names_handset("0620123456", "+33620123456")  # France's, the same digits
    assert not names_handset("0620123456", "+212612345678")


@given(st.text(max_size=30), st.booleans())
def test_any_address_is_a_handset_or_none_and_never_raises(
    address: str, international: bool
) -> None:
    handset = read_handset(address, international)
    if handset is not None:
        assert handset.removeprefix("+").isdigit()
        names_handset(handset, PHONE)


def test_an_early_report_concerns_the_submissions_to_its_handset() -> None:
    assert concerns(None, [OTHER])
    assert concerns("0612345678", [OTHER, PHONE])
    assert not concerns("+33612345678", [OTHER])
    assert not concerns("+33612345678", [])
