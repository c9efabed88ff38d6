"""The command table and what every handler shares: registration of handlers, the 461 check, limits."""

from __future__ import annotations

from collections.abc import Callable

from ...protocol import Message
from ...protocol import numerics as rpl
from ..hub import Client, Handler, Hub

COMMANDS: dict[str, Handler] = {}
#: Capabilities we implement and so advertise in `CAP LS`.
SUPPORTED_CAPS = (
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "draft/account-registration",
    "draft/chathistory",
    "draft/read-marker",
    "echo-message",
    "extended-join",
    "invite-notify",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "userhost-in-names",
)
#: Values shown with `CAP LS 302` (IRCv3 3.2).
CAP_VALUES = {"sasl": "PLAIN,EXTERNAL", "draft/account-registration": "before-connect"}

TOPICLEN = 390
AWAYLEN = 200
KICKLEN = 255
VERSION = "multichat-trio-0.1"


def command(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = handler
        return handler

    return register


def need(hub: Hub, client: Client, message: Message, count: int) -> bool:
    """True if `message` has `count` parameters; otherwise answer 461."""
    if len(message.params) >= count and all(message.params[:count]):
        return True
    hub.reply(client, rpl.ERR_NEEDMOREPARAMS, message.command, "Not enough parameters")
    return False
