"""Pure input rules of the GUI: the connect form's validation, the input line's commands, splitting."""

from __future__ import annotations

import pytest
from multichat_gui.userinput import (
    Act,
    ChangeNick,
    ConnectTarget,
    InputError,
    MessageTo,
    QuitChat,
    Say,
    parse_input,
    split_text,
    validate_connect,
)


def test_valid_form_gives_a_target() -> None:
    assert validate_connect(" iclal ", "127.0.0.1", "12345") == ConnectTarget("iclal", "127.0.0.1", 12345)


@pytest.mark.parametrize(
    ("nick", "host", "port", "fields"),
    [
        ("", "127.0.0.1", "12345", {"nick"}),
        ("9lives", "127.0.0.1", "12345", {"nick"}),
        ("*relayed", "127.0.0.1", "12345", {"nick"}),
        ("bob", "", "12345", {"host"}),
        ("bob", "localhost", "twelve", {"port"}),
        ("bob", "localhost", "70000", {"port"}),
        ("", "", "", {"nick", "host", "port"}),
    ],
)
def test_bad_form_input_names_each_wrong_field(nick: str, host: str, port: str, fields: set[str]) -> None:
    errors = validate_connect(nick, host, port)
    assert isinstance(errors, dict) and set(errors) == fields and all(errors.values())


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello", Say("hello")),
        ("/nick bobby", ChangeNick("bobby")),
        ("/me waves", Act("waves")),
        ("/msg alice hi there", MessageTo("alice", "hi there")),
        ("/quit gone fishing", QuitChat("gone fishing")),
        ("/QUIT", QuitChat("")),
        ("/join #x", Say("/join #x")),
        ("//nick is a command", Say("/nick is a command")),
        ("/msg alice", InputError("Usage: /msg nick message")),
        ("/nick", InputError("Usage: /nick newname")),
        ("/me", InputError("Usage: /me does something")),
        ("   ", None),
    ],
)
def test_input_line_commands(line: str, command: object) -> None:
    assert parse_input(line) == command


def test_split_keeps_words_characters_and_lines() -> None:
    text = "é" * 10 + " " + "word " * 20 + "\nsecond line"
    pieces = split_text(text, 20)
    assert all(len(p.encode()) <= 20 for p in pieces)
    assert pieces[0] == "é" * 10
    assert pieces[-1] == "second line"
    assert " ".join(pieces[1:-1]).split() == ["word"] * 20


def test_split_cuts_a_long_word_between_characters() -> None:
    pieces = split_text("ü" * 15, 7)
    assert pieces == ["üüü"] * 5
