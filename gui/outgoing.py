"""What a typed command sends: pure mapping of `userinput` commands to IRC messages.

`window` is the conversation the line was typed in (a `#channel`, a nick, or "" for the server's),
so `/topic`, `/kick`, `/op` and the like act on "this channel". Say, Act, Query, Quit and Help are
the session's own business (splitting, echo, the view); everything else is here.
"""

from __future__ import annotations

from multichat_trio.protocol import Message, RemoteProtocolError, casefold, is_channel_name, is_valid_nick, parse

from .userinput import (
    Away,
    Ban,
    ChangeNick,
    Invite,
    Join,
    Kick,
    ListChannels,
    MemberModes,
    Mode,
    Oper,
    Part,
    Quote,
    Topic,
    UserCommand,
    Whois,
)

#: Mode changes per MODE line (the server's ISUPPORT MODES=4).
MODES_PER_LINE = 4


class NotSent(Exception):
    """The command cannot go as typed; the message says why, for the user."""


def messages_for(command: UserCommand, window: str, nick: str) -> list[Message]:
    """The IRC messages that carry out `command` typed in `window` by `nick`; raises NotSent."""
    match command:
        case ChangeNick(new):
            if not is_valid_nick(new):
                raise NotSent(f"'{new}' is not a valid nickname.")
            return [Message("NICK", (new,))]
        case Join(channels, key):
            for channel in channels:
                if not is_channel_name(channel):
                    raise NotSent(f"'{channel}' is not a channel name (# then up to 49 characters, no space or comma).")
            return [Message("JOIN", (",".join(channels), key) if key else (",".join(channels),))]
        case Part(channel, reason):
            channel = channel or _this_channel(window, "/part #channel")
            return [Message("PART", (channel, reason) if reason else (channel,))]
        case Topic(text):
            channel = _this_channel(window, "/topic")
            return [Message("TOPIC", (channel,) if text is None else (channel, text))]
        case Away(message):
            return [Message("AWAY", (message,) if message else ())]
        case ListChannels(mask):
            return [Message("LIST", (mask,) if mask else ())]
        case Whois(who):
            return [Message("WHOIS", (who,))]
        case Kick(who, reason):
            channel = _this_channel(window, "/kick")
            return [Message("KICK", (channel, who, reason) if reason else (channel, who))]
        case Mode(args):
            if args and (args[0].startswith("#") or casefold(args[0]) == casefold(nick)):
                return [Message("MODE", args)]
            return [Message("MODE", (_this_channel(window, "/mode #channel ..."), *args))]
        case MemberModes(change, nicks):
            return _mode_lines(_this_channel(window, command_name(change)), change, nicks)
        case Ban(masks, remove):
            channel = _this_channel(window, "/unban" if remove else "/ban")
            full = tuple(mask if any(c in mask for c in "!@*?$") else f"{mask}!*@*" for mask in masks)
            return _mode_lines(channel, "-b" if remove else "+b", full)
        case Invite(who, channel):
            return [Message("INVITE", (who, channel or _this_channel(window, "/invite nick #channel")))]
        case Oper(name, password):
            return [Message("OPER", (name, password))]
        case Quote(line):
            try:
                return [parse(line)]
            except RemoteProtocolError as exc:
                raise NotSent(f"Not an IRC line: {exc}") from None
    raise NotSent(f"Not handled here: {command}")


def command_name(change: str) -> str:
    return {"+o": "/op", "-o": "/deop", "+v": "/voice", "-v": "/devoice"}.get(change, "/mode")


def _this_channel(window: str, usage: str) -> str:
    if not window.startswith("#"):
        raise NotSent(f"Type that in a channel's window, or name the channel: {usage}")
    return window


def _mode_lines(channel: str, change: str, args: tuple[str, ...]) -> list[Message]:
    """`+o a b c d e` as `MODE #c +oooo a b c d` then `MODE #c +o e`: at most MODES_PER_LINE each."""
    sign, letter = change[0], change[1:]
    out = []
    for start in range(0, len(args), MODES_PER_LINE):
        chunk = args[start : start + MODES_PER_LINE]
        out.append(Message("MODE", (channel, sign + letter * len(chunk), *chunk)))
    return out
