"""This checkout's GUI (`gui/`) as `multichat_gui`, whatever an editable install maps that name to.

The folder is `gui/` but the package is `multichat_gui`, so the cwd-first rule that makes a
checkout's `multichat_trio` win does not help it: an editable install of another checkout (a git
worktree's shared venv) would be imported instead. Run as a script, this starts the GUI.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GUI = Path(__file__).resolve().parent.parent / "gui"


def use_this_checkout() -> None:
    """Import `multichat_gui` from this checkout's `gui/` (before anything imports it otherwise)."""
    module = sys.modules.get("multichat_gui")
    if module is not None and Path(module.__file__ or "").parent == GUI:
        return
    spec = importlib.util.spec_from_file_location(
        "multichat_gui", GUI / "__init__.py", submodule_search_locations=[str(GUI)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["multichat_gui"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    use_this_checkout()
    from multichat_gui.__main__ import main

    sys.exit(main(sys.argv[1:]))
