"""The console script `flora` and `python -m flora_cli`.

The cyclic garbage collector is off while the CLI's modules load: click, flora's modules and
the command tree are ~12,000 objects that live until the process ends, and collecting over
them as they load costs ~3 ms of every start. They are then frozen (no later collection walks
them again) and the collector runs as usual for the command itself.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def main() -> NoReturn:
    gc.disable()
    try:
        from flora_cli.cli import main as run
    finally:
        gc.freeze()
        gc.enable()
    run()


if __name__ == "__main__":
    main()
