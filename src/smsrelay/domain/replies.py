"""Reading what recipients answer: is a reply a request to stop receiving SMS?

French operators and platforms treat a reply as STOP when the whole message is an
opt-out keyword, whatever its case, accents, punctuation or surrounding spaces:
"STOP", "Stop.", " stop ", "ARRÊT !", "stop-sms". A sentence that merely contains the
word ("please don't stop", "stop ou encore ?") is not one: it goes to a person, not to
the STOP list.

Words that also mean something else in a conversation ("fin", "annuler", "end",
"cancel", "quit") are left out of the default set on purpose: a recipient answering
"Annuler" to an appointment reminder wants the appointment cancelled, not the SMS.
"""

from __future__ import annotations

import functools
import unicodedata

DEFAULT_STOP_KEYWORDS: frozenset[str] = frozenset(
    {
        "stop",
        "stop sms",
        "stopsms",
        "stop all",
        "stopall",
        "arret",
        "arret sms",
        "arreter",
        "desabonner",
        "desabonnement",
        "desinscrire",
        "desinscription",
        "unsubscribe",
    }
)


def normalise(text: str) -> str:
    """Lower case, no accents, runs of anything but letters and digits as one space.

    "  Arrêt-SMS ! " becomes "arret sms". Compatibility forms are folded too, so the
    full-width "ＳＴＯＰ" some phones send reads "stop".
    """
    words: list[str] = []
    word: list[str] = []
    for char in unicodedata.normalize("NFKD", text).casefold():
        category = unicodedata.category(char)
        if category == "Mn":  # a combining accent, once NFKD has split it off
            continue
        if category[0] in "LN":
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return " ".join(words)


@functools.lru_cache(maxsize=8)
def _normalised(keywords: frozenset[str]) -> frozenset[str]:
    return frozenset(normalise(keyword) for keyword in keywords)


def is_stop(text: str, keywords: frozenset[str]) -> bool:
    """True when the whole reply is one of `keywords`, read as `normalise` reads it.

    The keywords may be written with capitals and accents ("ARRÊT"): they are
    normalised the same way as the reply.
    """
    return normalise(text) in _normalised(keywords)
