"""python -m controller.keys: the key tool (controller/keys/cli.py) on the running controller."""

from __future__ import annotations

import asyncio
import os
import sys

from controller.keys.cli import run


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:], os.environ, sys.stdout, sys.stderr)))


if __name__ == "__main__":
    main()
