"""What each IRC command does: one handler per command, registered in `COMMANDS` by the modules here.

Each handler gets the hub, the client and the parsed message, and answers through the hub's
delivery helpers. The modules group the commands by concern: `registration`, `queries`, `channels`,
`messages`, `info`, `operators`, `modes` (channel MODE), `moderation` (KICK, INVITE),
`accounts` (REGISTER, VERIFY, logins, nick protection), `sasl` (AUTHENTICATE), `nickserv`,
`readmarker` (MARKREAD). docs/protocol.md is the user-facing description of the same rules.
"""

from __future__ import annotations

from . import (
    accounts,
    channels,
    chanserv,
    history,
    info,
    messages,
    moderation,
    modes,
    nickserv,
    operators,
    queries,
    readmarker,
    registration,
    sasl,
)
from .table import COMMANDS, SUPPORTED_CAPS

__all__ = [
    "COMMANDS",
    "SUPPORTED_CAPS",
    "accounts",
    "channels",
    "chanserv",
    "history",
    "info",
    "messages",
    "moderation",
    "modes",
    "nickserv",
    "operators",
    "queries",
    "readmarker",
    "registration",
    "sasl",
]
