"""python -m supervisor_conf.exec_env FILE MODULE [ARGS...]: exec `python -m MODULE ARGS` with
the variables of FILE (a JSON object of strings, written 0600 by the launcher) added.

supervisord starts every program through this: neither supervisord's environment nor its
configuration holds a credential, and each program gets only its own (environments.py)."""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python -m supervisor_conf.exec_env FILE MODULE [ARGS...]")
    path, module, *args = argv
    with open(path, encoding="utf-8") as handle:
        variables = json.load(handle)
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        sys.exit(f"{path}: expected a JSON object of strings")
    os.execve(sys.executable, [sys.executable, "-m", module, *args], {**os.environ, **variables})


if __name__ == "__main__":
    main(sys.argv[1:])
