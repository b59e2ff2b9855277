"""STOP replies, recognised the way French operators recognise them."""

from __future__ import annotations

import pytest

from smsrelay.domain.replies import DEFAULT_STOP_KEYWORDS, is_stop, normalise


def test_the_bare_keyword_is_a_stop() -> None:
    assert is_stop("STOP", DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize("text", ["stop", "Stop", "sToP"])
def test_case_does_not_matter(text: str) -> None:
    assert is_stop(text, DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize("text", ["ARRÊT", "arrêt", "Arrèt", "ARRET", "désabonner"])
def test_accents_do_not_matter(text: str) -> None:
    assert is_stop(text, DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize(
    "text", ["Stop.", " stop ", "STOP!!", "\n\tStop\r\n", "« STOP »", "stop 🙏"]
)
def test_surrounding_punctuation_and_spaces_do_not_matter(text: str) -> None:
    assert is_stop(text, DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize("text", ["STOP SMS", "stop  sms", "Stop-SMS", "STOPSMS", "arrêt sms"])
def test_a_keyword_of_two_words_is_read_whatever_separates_them(text: str) -> None:
    assert is_stop(text, DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize("text", ["DESABONNER", "désinscription", "UNSUBSCRIBE", "Arrêter"])
def test_other_opt_out_words_are_stops(text: str) -> None:
    assert is_stop(text, DEFAULT_STOP_KEYWORDS)


def test_full_width_letters_some_phones_send_are_read_as_plain_ones() -> None:
    assert is_stop("ＳＴＯＰ", DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize("text", ["please don't stop", "Stop, c'est qui ?", "stopper", "non-stop"])
def test_a_sentence_that_contains_the_word_is_not_a_stop(text: str) -> None:
    assert not is_stop(text, DEFAULT_STOP_KEYWORDS)


@pytest.mark.parametrize("text", ["", "   ", "?!", "Merci", "Annuler", "Fin"])
def test_other_replies_are_not_stops(text: str) -> None:
    assert not is_stop(text, DEFAULT_STOP_KEYWORDS)


def test_keywords_are_compared_the_way_replies_are_read() -> None:
    assert is_stop("arret", frozenset({"ARRÊT"}))


def test_only_the_given_keywords_count() -> None:
    assert not is_stop("STOP", frozenset({"unsubscribe"}))


def test_normalise_keeps_words_and_drops_everything_around_them() -> None:
    assert normalise("  Arrêt-SMS ! ") == "arret sms"
