"""Every refusal smsrelay can answer, with its v1 code and its text in each language.

The code is the contract (clients branch on it); the text is for humans. One catalogue,
so that the same refusal reads the same in every endpoint, and French stays the default
as on the live service ("Clef API incorrecte").
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Literal

Language = Literal["fr", "en"]


class Problem(enum.Enum):
    """One refusal: (code, French text, English text)."""

    API_KEY_REQUIRED = (1, "La clé API est requise", "API key required")
    PHONE_REQUIRED = (2, "Le numéro de téléphone est requis", "Phone number required")
    MESSAGE_ID_REQUIRED = (3, "L'identifiant du message est requis", "Message id required")
    ALREADY_LISTED = (3, "Ce numéro est déjà dans la liste STOP", "This number is already listed")
    STOP_ID_REQUIRED = (3, "L'identifiant est requis", "Id required")
    NUMBER_NOT_FOUND = (4, "Numéro introuvable", "Number not found")
    MESSAGE_NOT_FOUND = (4, "Message introuvable", "Message not found")
    STOP_NOT_FOUND = (4, "Identifiant introuvable", "Id not found")
    TAG_NOT_FOUND = (4, "Aucun SMS avec ce tag", "No SMS with this tag")
    LIST_EMPTY = (5, "La liste est vide", "The list is empty")
    ALREADY_CANCELLED = (5, "L'envoi est déjà annulé", "The send is already cancelled")
    BAD_FORMAT = (6, "Format incorrect", "Incorrect format")
    CANCEL_TOO_LATE = (
        6,
        "L'envoi part dans moins de 5 minutes, il ne peut plus être annulé",
        "The send leaves in less than 5 minutes and can no longer be cancelled",
    )
    ALREADY_SENT = (7, "Le SMS est déjà envoyé", "The SMS has already been sent")
    NOT_MOBILE = (
        9,
        "Ce numéro ne semble pas être un numéro de mobile",
        "This number does not seem to be a mobile number",
    )
    DUPLICATE_NUMBER = (
        9,
        "Ce numéro figure déjà dans l'envoi",
        "This number is already in the send",
    )
    INVALID = (9, "Au moins une contrainte n'est pas respectée", "At least one constraint failed")
    NOT_A_PHONE = (
        9,
        "Ce n'est pas un numéro de téléphone valide",
        "This is not a valid phone number",
    )
    TAG_REQUIRED = (9, "Le tag est requis", "Tag required")
    API_KEY_INVALID = (10, "Clef API incorrecte", "Invalid API key")
    NOT_ENOUGH_CREDIT = (11, "Crédit insuffisant", "Not enough credit")
    NO_PRICE = (
        13,
        "Aucun tarif pour ces numéros",
        "No price for these numbers",
    )
    STOPPED_NUMBER = (14, "Ce numéro est dans la liste STOP", "This number is on the STOP list")
    LOW_COST_TOO_LONG = (
        42,
        "Un SMS low cost est limité à 160 caractères",
        "A low-cost SMS is limited to 160 characters",
    )
    MESSAGE_REQUIRED = (43, "Le message est requis", "Message required")
    SENDER_INVALID = (
        44,
        "L'émetteur doit compter de 3 à 11 caractères alphanumériques",
        "The sender must be 3 to 11 alphanumeric characters",
    )
    DATE_MISSING = (
        45,
        "La date d'envoi est requise avec l'heure et la minute",
        "The sending date is required with the time and minute",
    )
    DATE_INVALID = (
        46,
        "La date d'envoi doit être au format jj/mm/aaaa, dans l'année qui vient",
        "The sending date must be dd/mm/yyyy, within the coming year",
    )
    TIME_INVALID = (
        47,
        "L'heure d'envoi est requise, de 0 à 23",
        "The sending hour is required, 0 to 23",
    )
    MINUTE_INVALID = (
        48,
        "La minute d'envoi est requise, de 0 à 55 par pas de 5",
        "The sending minute is required, 0 to 55 in steps of 5",
    )
    DATE_PAST = (49, "La date d'envoi est passée", "The sending date is in the past")
    TOO_MANY = (50, "Plus de 500 éléments dans la requête", "More than 500 items in the request")
    TOO_MANY_PARTS = (52, "Le message dépasse 10 SMS", "The message is longer than 10 SMS")
    NO_RECIPIENT = (55, "Aucun numéro valide à qui envoyer", "No valid number to send to")
    MALFORMED = (
        90,
        "Corps de requête illisible (JSON mal formé)",
        "Unreadable body (malformed JSON)",
    )
    BODY_TOO_LARGE = (90, "Corps de requête trop volumineux", "Request body too large")
    NO_SUCH_ENDPOINT = (404, "Cette adresse n'existe pas", "No such endpoint")
    METHOD_NOT_ALLOWED = (405, "Méthode non autorisée", "Method not allowed")
    INTERNAL = (500, "Erreur interne, réessayez plus tard", "Internal error, try again later")
    BUSY = (500, "Service momentanément indisponible, réessayez", "Service busy, try again")

    def __init__(self, code: int, french: str, english: str) -> None:
        # Plain attributes: `value` is a slow descriptor, and item errors read these often.
        self.code = code
        self._texts = {"fr": french, "en": english}

    def text(self, language: Language) -> str:
        return self._texts[language]


class FieldError:
    """One entry of a code-9 answer's `error` list: which field, and what is wrong."""

    __slots__ = ("element_id", "problem")

    def __init__(self, field: str, problem: Problem) -> None:
        # The element ids of the live service name the form field this way.
        self.element_id = f"children[{field}].data"
        self.problem = problem


class Refused(Exception):
    """A request the product refuses; the API layer renders it, once, in one place."""

    def __init__(self, problem: Problem, fields: Sequence[FieldError] = ()) -> None:
        super().__init__(problem.name)
        self.problem = problem
        self.fields = fields
