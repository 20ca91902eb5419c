"""python -m supervisor_conf.launch: validate the whole configuration, render it, exec supervisord.

Reads `.env` from the repository root (real environment variables win), so every process
under supervisord sees the same settings. Any invalid setting stops here with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from common.config import ConfigError, Environ, load_dotenv
from common.paths import StatePaths
from common.workers import NO_WORKER_HINT
from controller.config import ControllerConfig
from frontdoor.config import FrontdoorConfig
from supervisor_conf.render import render
from workerd.config import WorkerdConfig

REPO = Path(__file__).resolve().parent.parent
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux


def validate(environ: Environ) -> tuple[FrontdoorConfig, ControllerConfig]:
    frontdoor = FrontdoorConfig.from_env(environ)
    controller = ControllerConfig.from_env(environ)
    for worker in controller.workers:
        WorkerdConfig.from_env(environ, worker.name)
        socket = controller.paths.worker_socket(worker.name)
        if len(str(socket)) > _SOCKET_PATH_MAX:
            raise ConfigError("STATE_DIR", f"path too long for unix sockets ({socket})")
    return frontdoor, controller


def main() -> None:
    parser = argparse.ArgumentParser(prog="launch")
    parser.add_argument("--logs", choices=("terminal", "files"), default="terminal")
    args = parser.parse_args()
    environ = {**load_dotenv(str(REPO / ".env")), **os.environ}
    try:
        frontdoor, controller = validate(environ)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    paths: StatePaths = controller.paths
    paths.ensure()
    conf = paths.supervisor_dir / "supervisord.conf"
    text = render(
        controller.workers,
        state=paths.root,
        repo=REPO,
        python=sys.executable,
        log_to_terminal=args.logs == "terminal",
    )
    conf.write_text(text)
    os.chmod(conf, 0o600)
    names = ", ".join(f"{w.name} ({w.mode})" for w in controller.workers) or "none configured"
    print(
        f"Claude Code Proxy on http://{frontdoor.host}:{frontdoor.port}  workers: {names}  "
        f"state: {paths.root}\n"
        f"dashboard: http://{frontdoor.host}:{frontdoor.port}/dashboard/proxy#token=<PROXY_AUTH_TOKEN>",
        flush=True,
    )
    if not controller.workers:
        print(f"note: {NO_WORKER_HINT}", flush=True)
    supervisord = str(Path(sys.executable).parent / "supervisord")
    os.execve(supervisord, [supervisord, "-n", "-c", str(conf)], environ)


if __name__ == "__main__":
    main()
