"""Mask normalization and wildcard matching (chat/masks.py)."""

from hypothesis import given
from hypothesis import strategies as st

from multichat_trio.chat.masks import match, normalize


def test_normalize_fills_missing_parts() -> None:
    assert normalize("bob") == "bob!*@*"
    assert normalize("*@host.example") == "*!*@host.example"
    assert normalize("bob!u") == "bob!u@*"
    assert normalize("host.example") == "*!*@host.example"
    assert normalize("Bob[1]!U@H") == "bob{1}!u@h"
    assert normalize("!@") == "*!*@*"


def test_match_wildcards_and_case() -> None:
    assert match("bob", "Bob!~b@1.2.3.4")
    assert match("*!*@1.2.3.*", "x!y@1.2.3.99")
    assert not match("*!*@1.2.3.*", "x!y@1.2.4.99")
    assert match("b?b!*@*", "bib!u@h")
    assert not match("b?b!*@*", "biib!u@h")
    assert match("NICK[A]", "nick{a}!u@h")
    assert match("a.b!*@*", "a.b!u@h") and not match("a.b!*@*", "axb!u@h")


@given(st.text(alphabet="abc!@*?.", max_size=12))
def test_normalized_mask_is_stable_and_matches_itself_without_wildcards(mask: str) -> None:
    full = normalize(mask)
    assert normalize(full) == full
    assert full.count("!") >= 1 and "@" in full
    literal = full.replace("*", "x").replace("?", "y")
    assert match(full, literal)
