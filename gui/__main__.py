"""`python -m multichat_gui` / `multichat-gui`: open the MultiChat window.

`--nick` connects at once (to `--server`/`--port`, defaults 127.0.0.1:12345); without it the
form is shown, prefilled with whatever flags were given.
"""

from __future__ import annotations

import argparse
import sys
import tkinter as tk
from collections.abc import Sequence

from .connect_form import DEFAULT_HOST, DEFAULT_PORT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="multichat-gui", description="MultiChat's window: chat on a MultiChat server."
    )
    parser.add_argument("--nick", default="", help="nickname; given, the window connects at once")
    # Not given: the form shows the last saved profile, else these defaults.
    parser.add_argument("--server", default="", help=f"server address (default {DEFAULT_HOST})")
    parser.add_argument("--port", default="", help=f"server port (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    port = int(args.port) if args.port.isdigit() else 0

    from . import testhook
    from .app import ChatApp, run_app

    def make_app(root: tk.Tk) -> ChatApp:
        app = ChatApp(root, nick=args.nick, host=args.server, port=port, autoconnect=bool(args.nick))
        if args.port and not port:  # shown as given, so the form says what is wrong with it
            app.form.fields["port"].delete(0, "end")
            app.form.fields["port"].insert(0, args.port)
        testhook.install(app)
        return app

    try:
        return run_app(make_app)
    except tk.TclError as exc:
        print(f"multichat-gui: cannot open a window: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
