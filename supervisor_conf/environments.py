"""Pure: which configuration each process of the stack gets (least privilege).

supervisord gets the shared configuration without any credential and passes it on to every
program. Each program adds its own variables from a private file (`exec_env`): the controller and
the frontdoor the roster of workers without their credentials (and the frontdoor the client
token); each workerd its own worker entry only, credential included.
"""

from __future__ import annotations

import json
from typing import Any

from common.config import Environ
from common.workers import WorkerSpec

CREDENTIAL_VARIABLES = frozenset(
    {"WORKERS", "PROXY_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"}
)
"""Never in the shared environment: WORKERS carries every account's token, the others are one."""


def shared_environment(environ: Environ) -> dict[str, str]:
    """What supervisord and every program may see: the configuration minus credentials."""
    return {key: value for key, value in environ.items() if key not in CREDENTIAL_VARIABLES}


def roster(workers: tuple[WorkerSpec, ...]) -> str:
    """WORKERS as the controller and the frontdoor need it: names, modes, addresses, limits."""
    return json.dumps([worker_entry(worker, credentials=False) for worker in workers])


def program_variables(
    environ: Environ, workers: tuple[WorkerSpec, ...], role: str = "all"
) -> dict[str, dict[str, str]]:
    """Each program's own variables, by supervisord program name (see render.programs)."""
    variables: dict[str, dict[str, str]] = {}
    if role == "all":
        public = roster(workers)
        frontdoor = {"WORKERS": public}
        if "PROXY_AUTH_TOKEN" in environ:
            frontdoor["PROXY_AUTH_TOKEN"] = environ["PROXY_AUTH_TOKEN"]
        variables = {"controller": {"WORKERS": public}, "frontdoor": frontdoor}
    for worker in workers:
        if worker.is_local:
            own = json.dumps([worker_entry(worker, credentials=True)])
            variables[f"workerd-{worker.name}"] = {"WORKERS": own}
    return variables


def worker_entry(worker: WorkerSpec, credentials: bool) -> dict[str, Any]:
    """A WORKERS entry that parses back to `worker` (the mode explicit: with the credentials
    gone, the default mode could differ)."""
    entry: dict[str, Any] = {
        "name": worker.name,
        "mode": worker.mode,
        "max_concurrent": worker.max_concurrent,
    }
    if worker.address:
        entry["address"] = worker.address
    if credentials:
        optional = {
            "bin": worker.bin,
            "token": worker.token,
            "api_key": worker.api_key,
            "listen": worker.listen,
        }
        entry.update({key: value for key, value in optional.items() if value})
        if worker.env:
            entry["env"] = dict(worker.env)
    return entry
