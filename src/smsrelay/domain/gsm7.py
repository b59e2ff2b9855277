"""The GSM 03.38 alphabet, once: what a text costs (segments.py) and how it is sent
(smpp/text.py) must agree on every character."""

from typing import Final

ESCAPE: Final = 0x1B

# The default alphabet indexed by code. 0x1B is the escape to the extension table, so its
# place holds a character that is never mapped: a text's U+001B has no GSM code.
BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table's characters and their codes, each sent after the escape: two
# septets each.
EXTENSION: Final = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
