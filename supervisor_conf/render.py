"""Pure: the supervisord configuration for a set of workers, as text."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from common.workers import WorkerSpec
from controller.config import GRACE_S as CONTROLLER_GRACE_S
from frontdoor.shutdown import HANDLER_MARGIN_S
from workerd.config import GRACE_S as WORKERD_GRACE_S

_HERE = Path(__file__).resolve().parent
STOP_MARGIN_S = 5  # supervisord's SIGKILL must only ever be a backstop


@dataclass(frozen=True)
class StopBudget:
    """How long each program's orderly stop may take, from the configuration: supervisord's
    stopwaitsecs must exceed it, or its SIGKILL lands first (and cannot reach CLI children,
    which run in sessions of their own)."""

    drain_s: float = 10.0  # SHUTDOWN_DRAIN_MS
    stop_grace_s: float = 3.0  # STOP_GRACE_MS

    def seconds(self, module: str) -> int:
        if module == "frontdoor":
            needed = self.drain_s + HANDLER_MARGIN_S
        elif module == "controller":
            needed = CONTROLLER_GRACE_S
        else:  # its gRPC grace; then each child: interrupt, TERM, KILL and its leftover tools,
            # a grace each, for running children and again for the idle ones (engine.close)
            needed = WORKERD_GRACE_S + 8 * self.stop_grace_s
        return math.ceil(needed) + STOP_MARGIN_S


@dataclass(frozen=True)
class Program:
    name: str
    module: str
    args: str
    priority: int


def programs(workers: tuple[WorkerSpec, ...], role: str = "all") -> list[Program]:
    """Local workerds first, then the controller, then the frontdoor; a worker host (role
    "workers", `make run-workers`) runs only its workerds."""
    local = [w for w in workers if w.is_local]
    workerds = [Program(f"workerd-{w.name}", "workerd", f" --worker {w.name}", 100) for w in local]
    if role == "workers":
        return workerds
    return [
        *workerds,
        Program("controller", "controller", "", 200),
        Program("frontdoor", "frontdoor", "", 300),
    ]


def env_dir(state: Path) -> Path:
    """Where the launcher writes each program's own variables (exec_env reads them)."""
    return state / "supervisor" / "env"


def render(
    workers: tuple[WorkerSpec, ...],
    *,
    state: Path,
    repo: Path,
    python: str,
    log_to_terminal: bool,
    budget: StopBudget = StopBudget(),
    role: str = "all",
) -> str:
    # As root, say so explicitly: supervisord otherwise warns on every start that it kept root.
    user_line = "user=root\n" if os.geteuid() == 0 else ""
    main = (_HERE / "supervisord.conf.tmpl").read_text().format(state=state, user_line=user_line)
    template = (_HERE / "program.conf.tmpl").read_text()
    sections = [main]
    for program in programs(workers, role):
        log = "/dev/stdout" if log_to_terminal else str(state / "logs" / f"{program.name}.log")
        sections.append(
            template.format(
                name=program.name,
                python=python,
                module=program.module,
                env_file=env_dir(state) / f"{program.name}.json",
                args=program.args,
                repo=repo,
                priority=program.priority,
                stop_wait_s=budget.seconds(program.module),
                log=log,
                log_max="0" if log_to_terminal else "20MB",
            )
        )
    return "".join(sections)
