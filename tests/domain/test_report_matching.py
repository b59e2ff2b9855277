"""Which recorded SMS a report is about, when operators reuse their message ids."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.domain.phone import region_of, to_e164
from smsrelay.domain.report_matching import (
    EARLY,
    LATE,
    Ambiguous,
    Candidate,
    Matched,
    choose,
    concerns,
    numbers_named,
    read_handset,
    regions_of_prefixes,
)
from smsrelay.domain.status import AWAITING_REPORT, FINAL_STATES, State

PHONE = "+33612345678"
OTHER = "+33698765432"
MOROCCAN = "+212620123456"  # written nationally "0620123456", like the French +33620123456
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Sending:
    """What the store would say of the numbers we send to."""

    pending: frozenset[str]
    addressed: frozenset[str]  # holds `pending`, as in a store

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(region_of(n) for n in self.addressed)


def sending(pending: Iterable[str], other_addressed: Iterable[str]) -> Sending:
    """Numbers an SMS is pending for, and those only addressed by SMS no longer pending."""
    return Sending(frozenset(pending), frozenset(pending) | frozenset(other_addressed))


NONE = sending(NOBODY, NOBODY)


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
    assert choose("+33612345678", [old, new], NONE) == Matched(new)
    assert choose("+33612345678", [new, old], NONE) == Matched(new)


def test_a_repeated_id_lands_on_the_sms_to_the_handset_it_names() -> None:
    mine, theirs = sms(PHONE, message_id=1), sms(OTHER, message_id=2)
    assert choose(PHONE, [mine, theirs], NONE) == Matched(mine)
    assert choose(OTHER, [mine, theirs], NONE) == Matched(theirs)


def test_a_report_for_a_handset_no_candidate_has_waits_for_its_submission() -> None:
    # The id was reused for an SMS to PHONE that is not recorded yet (pending: claimed,
    # or back for a retry after a lost answer; or recorded with the id of another
    # submission): the SMS to OTHER is not it.
    for state in (State.SUBMITTED, State.DELIVERED):
        assert choose(PHONE, [sms(OTHER, state)], sending({PHONE}, NOBODY)) is EARLY
        assert choose("0612345678", [sms(OTHER, state)], sending(NOBODY, {PHONE})) is EARLY
    assert choose(PHONE, [], NONE) is EARLY
    assert choose(None, [], NONE) is EARLY


@pytest.mark.parametrize("source", ["36179", "33700000000", "+33700000000", "SMSRELAY"])
def test_a_receipt_from_no_number_we_send_to_is_matched_on_its_id_alone(source: str) -> None:
    """Some SMSCs put a short code or our sender where the handset goes: every receipt
    would wait for a submission that never comes, and every SMS end Not delivered."""
    handset = read_handset(source, False)
    old, new = sms(OTHER, State.DELIVERED, message_id=1), sms(PHONE, message_id=2)
    ours = sending({PHONE, OTHER}, {PHONE, OTHER})  # to our recipients, never the source
    match = choose(handset, [old, new], ours)
    assert isinstance(match, Matched)
    assert match.candidate == new
    assert match.on_id_alone == (handset is not None)  # a letter sender names none anyway
    both = [sms(OTHER, message_id=1), new]
    assert choose(handset, both, ours) == Ambiguous(tuple(both), handset is not None)
    assert choose(handset, [old], ours) is LATE
    assert choose(handset, [], ours) is EARLY  # before its submission is recorded


def test_a_handset_may_be_any_number_its_national_form_reads_as() -> None:
    assert numbers_named("+33612345678", ["FR"]) == {PHONE}
    assert numbers_named("0620123456", ["MA", "FR"]) == {
        "+0620123456", "+212620123456", "+33620123456",
    }  # fmt: skip
    assert numbers_named("0620123456", ["FR"]) == {"+0620123456", "+33620123456"}
    assert numbers_named("33612345678", ["FR"]) == {PHONE}


def test_a_national_handset_is_read_in_the_regions_of_the_numbers_we_send_to() -> None:
    """The receipt of an SMS to a Moroccan number, written nationally ("0620123456"), with
    an id the operator reused: the only SMS recorded with it is French, to another number.
    Read only in France, the handset would be no number we send to and the report would
    land on the French SMS; it is the Moroccan one's, and waits for its submission."""
    french = sms(PHONE)
    for ours in (sending({MOROCCAN}, NOBODY), sending(NOBODY, {MOROCCAN})):
        assert choose("0620123456", [french], ours) is EARLY
        assert not concerns("0620123456", [PHONE], ours)  # its submission will take it
    assert concerns("0620123456", [MOROCCAN], sending(NOBODY, {MOROCCAN, PHONE}))
    # No Moroccan number among ours: a number we do not send to, matched on the id.
    assert choose("0620123456", [french], sending({OTHER}, {OTHER})) == Matched(french, True)


def test_a_national_handset_naming_a_final_sms_in_one_region_waits_for_another() -> None:
    """ "0620123456" names a final French SMS and a pending Moroccan one: the
    report may be the Moroccan SMS's, which would stay Waiting if it were read as late."""
    final = [sms("+33620123456", State.DELIVERED)]
    assert choose("0620123456", final, sending({MOROCCAN}, NOBODY)) is EARLY
    assert choose("0620123456", final, sending(NOBODY, {MOROCCAN})) is LATE
    assert choose("+33620123456", final, sending({MOROCCAN}, NOBODY)) is LATE


def test_the_regions_we_send_to_are_those_of_their_calling_codes() -> None:
    assert regions_of_prefixes(["+336", "+337", "+212"]) == {"FR", "MA", "EH"}
    assert {"US", "CA", "JM"} <= regions_of_prefixes(["+141"])
    assert regions_of_prefixes(["+800"]) == set()  # a non-geographic code: no region
    assert regions_of_prefixes([]) == set()


def test_two_sms_awaiting_a_report_are_not_guessed_between() -> None:
    one, two = sms(message_id=1), sms(state=State.ENROUTE, message_id=2)
    assert choose(PHONE, [one, two], NONE) == Ambiguous((one, two))


def test_without_a_handset_the_awaiting_sms_is_still_preferred() -> None:
    old, new = sms(OTHER, State.UNDELIVERABLE, message_id=1), sms(PHONE, message_id=2)
    assert choose(None, [old, new], NONE) == Matched(new)
    both = [sms(OTHER, message_id=1), new]
    assert choose(None, both, NONE) == Ambiguous(tuple(both))


def test_a_report_about_final_sms_only_is_late() -> None:
    final = [sms(state=State.DELIVERED, message_id=n) for n in (1, 2)]
    assert choose(PHONE, final, NONE) is LATE
    assert choose(None, final[:1], NONE) is LATE


def test_a_report_about_final_sms_while_one_to_its_handset_is_pending_is_early() -> None:
    final = [sms(state=State.DELIVERED)]
    assert choose("33612345678", final, sending({PHONE}, NOBODY)) is EARLY
    assert choose("33612345678", final, sending({OTHER}, NOBODY)) is LATE
    assert (
        choose(None, final, sending({PHONE}, NOBODY)) is LATE
    )  # without a handset it cannot be told


def test_a_part_awaits_a_report_only_while_it_and_its_sms_do() -> None:
    delivered_part = sms(state=State.DELIVERED, part=1, recipient_state=State.SUBMITTED)
    failed_sms = sms(part=2, recipient_state=State.FAILED, message_id=2)
    waiting_part = sms(state=State.ENROUTE, part=1, message_id=3)
    assert not delivered_part.awaiting
    assert not failed_sms.awaiting
    assert waiting_part.awaiting
    cases = [delivered_part, failed_sms, waiting_part]
    assert choose(PHONE, cases, NONE) == Matched(waiting_part)
    assert choose(PHONE, cases[:2], NONE) is LATE


def test_two_parts_of_one_sms_sharing_an_id_take_its_reports_in_turn() -> None:
    """A counter restarted between two parts of one long SMS: its recipient ends where
    its reports say, instead of Not delivered at the end of its validity."""
    first, second = sms(part=1), sms(part=2)
    assert choose(PHONE, [second, first], NONE) == Matched(first)
    done = sms(state=State.DELIVERED, part=1)
    assert choose(PHONE, [second, done], NONE) == Matched(second)
    another_sms = sms(part=1, message_id=2)
    assert choose(PHONE, [first, second, another_sms], NONE) == Ambiguous(
        (first, second, another_sms)
    )


# -- every combination ----------------------------------------------------------------------

STATES = sorted(AWAITING_REPORT | FINAL_STATES)
# Two French numbers, the French and the Moroccan numbers "0620123456" reads as, and a
# Belgian one: the national forms below read differently in each region.
PHONES = [PHONE, OTHER, "+33620123456", MOROCCAN, "+32470123456"]
HANDSETS = [
    None, PHONE, "0612345678", "33698765432", "+33600000000", "0620123456", "620123456",
    "212620123456", "+212620123456", "0470123456", "0033620123456",
]  # fmt: skip


def names(handset: str, phone: str) -> bool:
    """The oracle: `handset` is `phone` written in E.164, without its "+", or in the
    national form of `phone`'s own region."""
    return handset in (phone, phone[1:]) or (
        not handset.startswith("+") and to_e164(handset, region_of(phone)) == phone
    )


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    """Up to four SMS with the id; a long one may have several of its parts among them."""
    found = []
    for n in range(draw(st.integers(0, 4))):
        phone = draw(st.sampled_from(PHONES))
        recipient_state = draw(st.sampled_from(STATES))
        parts = draw(st.sampled_from([[None], [1], [2], [1, 2], [1, 3]]))
        found += [
            sms(
                phone,
                draw(st.sampled_from(STATES)),
                message_id=n,
                part=part,
                recipient_state=recipient_state,
            )
            for part in parts
        ]
    return found[:5]


NUMBERS = st.frozensets(st.sampled_from([*PHONES, "+33600000000"]))


@given(st.sampled_from(HANDSETS), candidates(), NUMBERS, NUMBERS)
def test_the_choice_follows_the_rules_whatever_the_candidates(
    handset: str | None, found: list[Candidate], pending: frozenset[str], addressed: frozenset[str]
) -> None:
    ours = sending(pending, addressed)
    match = choose(handset, found, ours)
    named = [c for c in found if handset is None or names(handset, c.phone)]
    # the handset is a number we send to
    is_ours = handset is not None and any(names(handset, n) for n in pending | addressed)
    on_id_alone = bool(found) and not named and not is_ours
    if on_id_alone:
        named = found
    awaiting = [c for c in named if c.awaiting]
    if not found or (not named and is_ours):
        assert match is EARLY
    elif len(awaiting) == 1:
        assert match == Matched(awaiting[0], on_id_alone)
    elif len({c.message_id for c in awaiting}) == 1 and None not in {c.part for c in awaiting}:
        first = min(awaiting, key=lambda c: c.part or 0)  # parts of one recipient
        assert match == Matched(first, on_id_alone)
    elif awaiting:
        assert match == Ambiguous(tuple(awaiting), on_id_alone)
    elif not on_id_alone and handset is not None and any(names(handset, n) for n in pending):
        assert match is EARLY  # an SMS to a number the handset may be is pending
    else:
        assert match is LATE
    # Whatever the order the store reads them in, the same answer (up to that order).
    for order in itertools.permutations(found):
        again = choose(handset, list(order), ours)
        if isinstance(match, Ambiguous):
            assert isinstance(again, Ambiguous)
            assert set(again.candidates) == set(match.candidates)
        else:
            assert again == match


@given(st.sampled_from(HANDSETS), st.frozensets(st.sampled_from(PHONES), min_size=1), NUMBERS)
def test_an_early_report_is_taken_by_the_submissions_it_may_be_about(
    handset: str | None, recorded: frozenset[str], addressed: frozenset[str]
) -> None:
    """Taken by a submission to its handset, or by any when it names no number we send to:
    never by a submission to another number while one to its handset may come."""
    ours = Sending(NOBODY, addressed | recorded)
    taken = concerns(handset, recorded, ours)
    if handset is None or any(names(handset, phone) for phone in recorded):
        assert taken
    else:
        assert taken == (not any(names(handset, n) for n in addressed))


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
    assert PHONE in numbers_named(handset, ["FR"])


@pytest.mark.parametrize(
    "handset", ["+33698765432", "33698765432", "0698765432", "+0033612345678", "12345"]
)
def test_a_handset_does_not_name_another_number(handset: str) -> None:
    assert PHONE not in numbers_named(handset, ["FR"])


def test_a_national_handset_is_read_in_each_region_given() -> None:
    assert MOROCCAN in numbers_named("0620123456", ["MA"])  # Morocco's national form
    assert "+33620123456" in numbers_named("0620123456", ["FR"])  # France's, the same digits
    assert MOROCCAN not in numbers_named("0620123456", ["FR"])
    assert "+212612345678" not in numbers_named("0620123456", ["MA", "FR"])


@given(st.text(max_size=30), st.booleans())
def test_any_address_is_a_handset_or_none_and_never_raises(
    address: str, international: bool
) -> None:
    handset = read_handset(address, international)
    if handset is not None:
        assert handset.removeprefix("+").isdigit()
        assert all(n.startswith("+") for n in numbers_named(handset, ["FR", "MA", "US"]))


def test_an_early_report_concerns_the_submissions_to_its_handset() -> None:
    ours = sending({PHONE, OTHER}, {PHONE, OTHER})
    assert concerns(None, [OTHER], ours)
    assert concerns("0612345678", [OTHER, PHONE], ours)
    assert not concerns("+33612345678", [OTHER], ours)
    assert not concerns("+33612345678", [OTHER], sending(NOBODY, {PHONE}))


def test_an_early_report_from_no_number_we_send_to_concerns_any_submission() -> None:
    assert concerns("36179", [OTHER], sending({PHONE}, {OTHER}))
    assert concerns("+33700000000", [OTHER], sending({PHONE}, {OTHER}))
