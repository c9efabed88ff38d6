"""The connect form in a real window (Xvfb): a saved profile fills it, the password goes to SASL and is
never saved, and a connection is remembered as the first profile."""

from __future__ import annotations

import json
from pathlib import Path

from multichat_gui.profiles import Profile, save

from .conftest import StartServer
from .guidriver import needs_display, open_gui, open_xvfb

pytestmark = needs_display


async def test_a_saved_profile_fills_the_form_and_the_connection_is_remembered_without_its_password(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = await start_server()
    config = tmp_path / "config"
    path = config / "multichat" / "profiles.json"
    save([Profile("here", "iclal", "127.0.0.1", server.port), Profile("old", "olduser", "192.0.2.9", 6667)], path)
    async with open_xvfb() as display, open_gui(display, tmp_path, XDG_CONFIG_HOME=str(config)) as gui:
        state = await gui.wait_for(lambda s: s["screen"] == "form")
        assert state["form"]["fields"] == {"nick": "iclal", "host": "127.0.0.1", "port": str(server.port)}
        assert state["form"]["tls"] is False
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.key("Return")
        await gui.wait_for(lambda s: s["screen"] == "room" and "iclal" in s["room"]["users"])
    stored = json.loads(path.read_text())
    names = [p["name"] for p in stored["profiles"]]
    assert names == [f"iclal@127.0.0.1:{server.port}", "here", "old"]
    assert all("password" not in p for p in stored["profiles"])
