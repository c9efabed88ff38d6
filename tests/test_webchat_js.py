"""The web chat's pure JavaScript (`static/chat/irc.js`) in a real Chromium, case by case.

The module is imported into the served page (so the page's Content-Security-Policy applies) and its
functions run on a table of inputs; Python compares the answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import trio

from multichat_trio.app import Running, serve_services

from .browsers import chromium, needs_chromium
from .conftest import test_config

pytestmark = needs_chromium

CASES: dict[str, list[Any]] = {
    "parse": [
        "PING :abc",
        ":nick!u@h PRIVMSG #a :hello  there",
        "@time=2026-12-01T10:00:00.000Z;msgid=x1;+k=a\\sb\\:c\\\\ :s 001 me :Welcome",
        ":s 005 me PREFIX=(ov)@+ CHATHISTORY=100 :are supported",
        ":s  NOTICE   *   :spaces",
        "@empty;x= :a!b@c TAGMSG #t",
    ],
    "key": ["Nick[1]", "NICK{1}", "a\\b~", "#Lobby"],
    "mentions": [
        ["hi ann!", "ann"],
        ["hi ANN", "ann"],
        ["hi annie", "ann"],
        ["joanna", "ann"],
        ["ann: look", "ann"],
        ["[ann] said", "[ann]"],
        ["{ANN}", "[ann]"],
        ["", "ann"],
    ],
    "ctcp": ["\x01ACTION waves\x01", "\x01ACTION\x01", "\x01VERSION\x01", "plain", "\x01ACTION no end"],
    "validNick": ["ann", "a-1", "1ann", "-x", "a b", "[x]", "x" * 30, "x" * 31, "", "#chan"],
    "colourOf": ["ann", "ANN", "bob"],
    "split": [
        ["short", 20],
        [" ".join(f"word{n}" for n in range(40)), 30],
        ["é" * 25 + "€" * 10, 16],
        ["", 10],
    ],
}

SCRIPT = """async (cases) => {
  const m = await import('/chat/irc.js');
  return {
    parse: cases.parse.map((line) => m.parse(line)),
    key: cases.key.map((name) => m.key(name)),
    mentions: cases.mentions.map(([text, nick]) => m.mentions(text, nick)),
    ctcp: cases.ctcp.map((raw) => m.ctcp(raw)),
    validNick: cases.validNick.map((nick) => m.validNick(nick)),
    colourOf: cases.colourOf.map((nick) => m.colourOf(nick)),
    split: cases.split.map(([text, budget]) => m.split(text, budget)),
  };
}"""


@pytest.fixture
async def services(nursery: trio.Nursery) -> AsyncIterator[Running]:
    stop = trio.Event()
    yield await nursery.start(partial(serve_services, test_config(), stop, http_port=0, ws_port=None))
    stop.set()


def run_cases(url: str) -> dict[str, Any]:
    with chromium() as context:
        page = context.new_page()
        page.goto(url)
        return json.loads(json.dumps(page.evaluate(SCRIPT, CASES)))


async def test_the_web_chats_irc_module(services: Running) -> None:
    with trio.fail_after(60):
        got = await trio.to_thread.run_sync(run_cases, f"http://127.0.0.1:{services.http_port}/")
    ping, privmsg, tagged, isupport, spaces, empty = got["parse"]
    assert ping == {"tags": {}, "source": "", "command": "PING", "params": ["abc"]}
    assert privmsg["source"] == "nick!u@h" and privmsg["params"] == ["#a", "hello  there"]
    assert tagged["tags"] == {"time": "2026-12-01T10:00:00.000Z", "msgid": "x1", "+k": "a b;c\\"}
    assert tagged["command"] == "001" and tagged["params"] == ["me", "Welcome"]
    assert isupport["params"] == ["me", "PREFIX=(ov)@+", "CHATHISTORY=100", "are supported"]
    assert spaces["command"] == "NOTICE" and spaces["params"] == ["*", "spaces"]
    assert empty["tags"] == {"empty": "", "x": ""} and empty["params"] == ["#t"]
    assert got["key"] == ["nick{1}", "nick{1}", "a|b^", "#lobby"]
    assert got["mentions"] == [True, True, False, False, True, True, True, False]
    assert got["ctcp"] == [
        {"text": "waves", "action": True},
        {"text": "", "action": True},
        None,
        {"text": "plain", "action": False},
        {"text": "no end", "action": True},
    ]
    assert got["validNick"] == [True, True, False, False, False, True, True, False, False, False]
    ann, ann_upper, bob = got["colourOf"]
    assert ann == ann_upper and ann.startswith("c") and 0 <= int(ann[1:]) < 12 and isinstance(bob, str)


async def test_a_long_line_is_split_into_messages_that_fit(services: Running) -> None:
    """Long input goes out as several PRIVMSGs within the byte budget, broken at spaces, never mid-character."""
    with trio.fail_after(60):
        got = await trio.to_thread.run_sync(run_cases, f"http://127.0.0.1:{services.http_port}/")
    short, words, multibyte, empty = got["split"]
    assert short == ["short"] and empty == []
    assert " ".join(words) == CASES["split"][1][0] and all(len(p.encode()) <= 30 for p in words)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in words) and len(words) > 1
    assert "".join(multibyte) == CASES["split"][2][0] and all(len(p.encode()) <= 16 for p in multibyte)
