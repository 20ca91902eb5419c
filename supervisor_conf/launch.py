"""python -m supervisor_conf.launch: validate the whole configuration, render it, exec supervisord.

Reads `.env` from the repository root (real environment variables win), so every process
under supervisord sees the same settings, except credentials: each process gets only its own
(environments.py). Any invalid setting stops here with one line, and so does a STATE_DIR this
user cannot write or a proxy.db that is no SQLite database (controller/storage/faults.py).

`--role workers` (`make run-workers`) is a worker host: only its workerds, each on TCP with
mutual TLS, for a controller on another host whose WORKERS names them by `address`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from common.config import ConfigError, Environ, load_dotenv
from common.paths import StatePaths
from common.workers import NO_WORKER_HINT, WorkerSpec, parse_workers
from controller.config import ControllerConfig
from controller.storage.faults import StorageUnusable, preflight
from frontdoor.config import FrontdoorConfig
from supervisor_conf.environments import program_variables, shared_environment, worker_entry
from supervisor_conf.render import StopBudget, env_dir, render
from workerd.config import WorkerdConfig, listen_address

REPO = Path(__file__).resolve().parent.parent
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux


def validate(environ: Environ) -> tuple[FrontdoorConfig, ControllerConfig]:
    frontdoor = FrontdoorConfig.from_env(environ)
    controller = ControllerConfig.from_env(environ)
    for index, worker in enumerate(controller.workers):
        if not worker.is_local:
            continue
        if listen_address(environ, worker, index):
            raise ConfigError(
                "WORKERD_LISTEN" if not worker.listen else "WORKERS",
                f"worker {worker.name!r} would listen on TCP: that is for a worker host "
                "(make run-workers); here a local workerd serves on its unix socket",
            )
        WorkerdConfig.from_env(environ, worker.name)
        socket = controller.paths.worker_socket(worker.name)
        if len(str(socket)) > _SOCKET_PATH_MAX:
            raise ConfigError("STATE_DIR", f"path too long for unix sockets ({socket})")
    return frontdoor, controller


def validate_worker_host(environ: Environ) -> tuple[WorkerSpec, ...]:
    """A worker host's workers, each with its TCP address resolved (entry `listen`, else
    WORKERD_LISTEN advanced by its place) and its whole workerd configuration checked."""
    specs = parse_workers(environ)
    if not specs:
        raise ConfigError("WORKERS", "a worker host needs WORKERS with its accounts")
    resolved = []
    for index, spec in enumerate(specs):
        if not spec.is_local:
            raise ConfigError("WORKERS", f"worker {spec.name!r}: a worker host runs no remote one")
        listen = listen_address(environ, spec, index)
        if not listen:
            raise ConfigError(
                "WORKERD_LISTEN", f"worker {spec.name!r}: set its `listen` or WORKERD_LISTEN"
            )
        resolved.append(dataclasses.replace(spec, listen=listen))
    own = _with_listen(environ, resolved)
    configs = [WorkerdConfig.from_env(own, spec.name) for spec in resolved]
    ports = [config.listen.target for config in configs if config.listen]
    if len(set(ports)) != len(ports):
        raise ConfigError("WORKERS", f"two workers listen on the same address: {ports}")
    return tuple(resolved)


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
    parser.add_argument(
        "--role",
        choices=("all", "workers"),
        default="all",
        help="all: the whole stack; workers: a worker host's workerds only (make run-workers)",
    )
    args = parser.parse_args()
    environ = {**load_dotenv(str(REPO / ".env")), **os.environ}
    try:
        workers, paths, budget, announce = _configure(environ, args.role)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    _prepare_state(paths, with_database=args.role == "all")
    conf = paths.supervisor_dir / "supervisord.conf"
    text = render(
        workers,
        state=paths.root,
        repo=REPO,
        python=sys.executable,
        log_to_terminal=args.logs == "terminal",
        budget=budget,
        role=args.role,
    )
    conf.write_text(text)
    os.chmod(conf, 0o600)
    variables = program_variables(environ, workers, args.role)
    write_program_variables(env_dir(paths.root), variables)
    announce()
    supervisord = str(Path(sys.executable).parent / "supervisord")
    # supervisord and, through it, every program see no credential; each program adds its own.
    os.execve(supervisord, [supervisord, "-n", "-c", str(conf)], shared_environment(environ))


def _configure(
    environ: Environ, role: str
) -> tuple[tuple[WorkerSpec, ...], StatePaths, StopBudget, Callable[[], None]]:
    """The role's workers, state, stop budget and what to print on start (ConfigError: bad)."""
    if role == "workers":
        workers = validate_worker_host(environ)
        paths = StatePaths.from_env(environ)
        budget = _workers_stop_budget(environ, workers)
        return workers, paths, budget, partial(_announce_worker_host, workers, paths)
    frontdoor, controller = validate(environ)
    budget = stop_budget(environ, frontdoor, controller)
    announce = partial(_announce, frontdoor, controller)
    return controller.workers, controller.paths, budget, announce


def _with_listen(environ: Environ, workers: Sequence[WorkerSpec]) -> dict[str, str]:
    """The worker host's environment with WORKERS as resolved (each entry's `listen` set)."""
    return {**environ, "WORKERS": json.dumps([worker_entry(w, True) for w in workers])}


def _workers_stop_budget(environ: Environ, workers: tuple[WorkerSpec, ...]) -> StopBudget:
    own = _with_listen(environ, workers)
    graces = [WorkerdConfig.from_env(own, w.name).stop_grace_ms for w in workers]
    return StopBudget(stop_grace_s=max(graces, default=0) / 1000)


def _prepare_state(paths: StatePaths, with_database: bool) -> None:
    try:
        paths.ensure()
        if with_database:
            preflight(paths.database)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        sys.exit(f"STATE_DIR unusable: {paths.root} must be a writable directory ({reason})")
    except StorageUnusable as exc:
        sys.exit(str(exc))


def _announce(frontdoor: FrontdoorConfig, controller: ControllerConfig) -> None:
    names = ", ".join(
        f"{w.name} ({w.mode}{', at ' + w.address if w.address else ''})" for w in controller.workers
    )
    print(
        f"Claude Code Proxy on http://{frontdoor.host}:{frontdoor.port}  "
        f"workers: {names or 'none configured'}  state: {controller.paths.root}\n"
        f"dashboard: http://{frontdoor.host}:{frontdoor.port}/dashboard/proxy#token=<PROXY_AUTH_TOKEN>",
        flush=True,
    )
    if not controller.workers:
        print(f"note: {NO_WORKER_HINT}", flush=True)


def _announce_worker_host(workers: tuple[WorkerSpec, ...], paths: StatePaths) -> None:
    """What runs here, and the entries the controller host's WORKERS needs for it."""
    print(f"worker host: {len(workers)} workerd(s), mutual TLS, state: {paths.root}", flush=True)
    for worker in workers:
        entry = {"name": worker.name, "mode": worker.mode, "address": worker.listen}
        print(f"  {worker.name} ({worker.mode}) on {worker.listen}", flush=True)
        print(f"    controller host WORKERS entry: {json.dumps(entry)}", flush=True)


if __name__ == "__main__":
    main()
