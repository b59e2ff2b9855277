"""Every error the SMPP layer raises, so that a carrier catches one base class.

    SmppError
    ├── PduError         a PDU we cannot read or build (carries the command id)
    ├── SessionClosed    the connection is gone; every pending request fails with it
    └── SessionTimeout   no response to a request in time (carries command id, sequence)

An answer with a non-zero `command_status` is not an error here: `Session.request`
returns it, and the caller decides whether it is worth a retry.
"""

from __future__ import annotations


class SmppError(Exception):
    """Base of the SMPP layer's errors."""


class PduError(SmppError):
    """A PDU that cannot be decoded or encoded; `command_id` says which kind."""

    def __init__(self, command_id: int, reason: str) -> None:
        super().__init__(f"PDU 0x{command_id:08X}: {reason}")
        self.command_id = command_id
        self.reason = reason


class SessionClosed(SmppError):
    """The connection closed, by us, by the peer or by the network."""


class SessionTimeout(SmppError):
    """The peer did not answer a request within its timeout."""

    def __init__(self, command_id: int, sequence: int, timeout: float) -> None:
        super().__init__(f"no response to PDU 0x{command_id:08X} #{sequence} in {timeout:g} s")
        self.command_id = command_id
        self.sequence = sequence
        self.timeout = timeout
