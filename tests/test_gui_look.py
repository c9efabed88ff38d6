"""The GUI's pure rules for its look and manners: window placement, mentions, theme choice, DPI, the icon."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multichat_gui import attention, icon, placement, theme
from multichat_gui.events import Member
from multichat_gui.room import member_actions

SCREEN = (0, 0, 1400, 900)


def within(box: tuple[int, int, int, int], area: tuple[int, int, int, int]) -> bool:
    x, y, width, height = box
    ax, ay, aw, ah = area
    return (
        ax <= x and ay <= y and x + width + placement.FRAME[0] <= ax + aw and y + height + placement.FRAME[1] <= ay + ah
    )


def test_a_private_window_goes_right_of_the_main_window_when_it_fits() -> None:
    x, y, width, height = placement.beside((0, 0, 720, 480), 440, 320, SCREEN)
    assert x >= 720 and (y, width, height) == (0, 440, 320)


def test_near_the_right_edge_it_goes_left_of_the_main_window_not_off_screen() -> None:
    """The reported case: a main window ending near the right edge put the PM at x=1407 of 1400."""
    box = placement.beside((675, 0, 720, 480), 440, 320, SCREEN)
    assert within(box, SCREEN) and box[0] + box[2] <= 675


def test_with_no_room_on_either_side_it_overlaps_the_main_window_inside_the_screen() -> None:
    box = placement.beside((100, 50, 1200, 800), 440, 320, SCREEN, cascade=28)
    assert within(box, SCREEN)


@given(
    st.tuples(st.integers(-3000, 3000), st.integers(-3000, 3000), st.integers(1, 4000), st.integers(1, 4000)),
    st.tuples(st.integers(-500, 500), st.integers(-500, 500), st.integers(300, 4000), st.integers(300, 4000)),
    st.integers(0, 200),
)
def test_every_new_window_lies_inside_the_work_area(
    main: tuple[int, int, int, int], area: tuple[int, int, int, int], cascade: int
) -> None:
    assert within(placement.beside(main, 440, 320, area, cascade), area)
    assert within(placement.centred(main, 300, 150, area), area)
    assert within(placement.clamp(*main, area), area)


@pytest.mark.parametrize(
    ("text", "nick", "expected"),
    [
        ("hi iclal!", "iclal", True),
        ("ICLAL: look", "iclal", True),
        ("iclala is someone else", "iclal", False),
        ("see bob_", "bob", False),
        ("{bot}, status?", "[bot]", True),  # IRC case rules
        ("no one", "", False),
    ],
)
def test_a_mention_is_our_nick_as_a_word(text: str, nick: str, expected: bool) -> None:
    assert attention.mentions(text, nick) is expected


@pytest.mark.parametrize(
    ("environ", "dark"),
    [
        ({"MULTICHAT_GUI_THEME": "dark"}, True),
        ({"MULTICHAT_GUI_THEME": "light", "GTK_THEME": "Adwaita:dark"}, False),
        ({"GTK_THEME": "Adwaita:dark"}, True),
        ({"GTK_THEME": "Arc-Dark"}, True),
        ({"GTK_THEME": "Adwaita"}, False),
    ],
)
def test_light_or_dark_follows_the_setting_then_gtk_theme(environ: dict[str, str], dark: bool) -> None:
    assert theme.prefers_dark(environ) is dark


@pytest.mark.parametrize(
    ("environ", "xft", "dpi"),
    [
        ({}, None, None),
        ({"MULTICHAT_GUI_SCALE": "2"}, 120.0, 192.0),
        ({}, 144.0, 144.0),
        ({"GDK_SCALE": "2"}, None, 192.0),
        ({"MULTICHAT_GUI_SCALE": "lots"}, None, None),
        ({"GDK_SCALE": "40"}, None, None),  # out of any sane range: ignored
    ],
)
def test_the_dpi_comes_from_the_setting_xft_or_gdk_scale(
    environ: dict[str, str], xft: float | None, dpi: float | None
) -> None:
    assert theme.dpi_override(environ, xft) == dpi


def test_the_icon_is_a_valid_rgba_png_of_a_bubble() -> None:
    data = icon.png(icon.pixels(32))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (32, 32, 8, 6)
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41 : 41 + length])
    assert len(raw) == 32 * (1 + 32 * 4)
    alpha = [raw[row * 129 + 1 + col * 4 + 3] for row, col in ((0, 0), (31, 31), (8, 16))]
    assert alpha == [0, 0, 255]  # transparent corners, an opaque bubble


def test_a_members_context_menu_offers_operator_actions_only_to_operators() -> None:
    plain = member_actions(Member("alice"), operator=False)
    assert plain == [("Private message", "/query alice"), ("Whois", "/whois alice")]
    voiced_op = dict(member_actions(Member("bob", "@+"), operator=True))
    assert voiced_op["Take op"] == "/deop bob" and voiced_op["Take voice"] == "/devoice bob"
    assert voiced_op["Kick"] == "/kick bob" and voiced_op["Ban"] == "/ban bob"
    assert "Give op" in dict(member_actions(Member("carol"), operator=True))
