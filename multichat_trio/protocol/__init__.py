"""Sans-IO IRC: messages, framing, numerics and name rules. Imports no I/O library."""

from .errors import ForbiddenCharacter, LocalProtocolError, RemoteProtocolError
from .framing import MAX_CLIENT_TAGS, MAX_LINE, LineFramer, LineTooLong, encode, text_line
from .message import Message, format_message, format_tags, parse
from .names import casefold, host_word, is_channel_name, is_valid_nick

__all__ = [
    "MAX_CLIENT_TAGS",
    "MAX_LINE",
    "ForbiddenCharacter",
    "LineFramer",
    "LineTooLong",
    "LocalProtocolError",
    "Message",
    "RemoteProtocolError",
    "casefold",
    "encode",
    "format_message",
    "format_tags",
    "host_word",
    "is_channel_name",
    "is_valid_nick",
    "parse",
    "text_line",
]
