"""python -m supervisor_conf.launch: validate the whole configuration, render it, exec supervisord.

Reads `.env` from the repository root (real environment variables win), so every process
under supervisord sees the same settings, except credentials: each process gets only its own
(environments.py). Any invalid setting stops here with one line, and so does a STATE_DIR this
user cannot write or a proxy.db that is no SQLite database (controller/storage/faults.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common.config import ConfigError, Environ, load_dotenv
from common.paths import StatePaths
from common.workers import NO_WORKER_HINT
from controller.config import ControllerConfig
from controller.storage.faults import StorageUnusable, preflight
from frontdoor.config import FrontdoorConfig
from supervisor_conf.environments import program_variables, shared_environment
from supervisor_conf.render import StopBudget, env_dir, render
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


def stop_budget(
    environ: Environ, frontdoor: FrontdoorConfig, controller: ControllerConfig
) -> StopBudget:
    graces = [
        WorkerdConfig.from_env(environ, worker.name).stop_grace_ms for worker in controller.workers
    ]
    return StopBudget(
        drain_s=frontdoor.shutdown_drain_ms / 1000,
        stop_grace_s=max(graces, default=0) / 1000,
    )


def write_program_variables(directory: Path, variables: dict[str, dict[str, str]]) -> None:
    """One private file per program (exec_env reads it); files of programs gone are removed."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for stale in directory.glob("*.json"):
        stale.unlink()
    for program, values in variables.items():
        path = directory / f"{program}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle)


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
    try:
        paths.ensure()
        preflight(paths.database)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        sys.exit(f"STATE_DIR unusable: {paths.root} must be a writable directory ({reason})")
    except StorageUnusable as exc:
        sys.exit(str(exc))
    conf = paths.supervisor_dir / "supervisord.conf"
    text = render(
        controller.workers,
        state=paths.root,
        repo=REPO,
        python=sys.executable,
        log_to_terminal=args.logs == "terminal",
        budget=stop_budget(environ, frontdoor, controller),
    )
    conf.write_text(text)
    os.chmod(conf, 0o600)
    write_program_variables(env_dir(paths.root), program_variables(environ, controller.workers))
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
    # supervisord and, through it, every program see no credential; each program adds its own.
    os.execve(supervisord, [supervisord, "-n", "-c", str(conf)], shared_environment(environ))


if __name__ == "__main__":
    main()
