"""Starting a CLI process with what it is given, and removing that when the process is gone.

A process gets a private system prompt file (never argv), a working directory (the empty chat
directory; in agent mode a private one per conversation or warm process), a session file when a
long history goes in at start-up (resume.py), and its environment (child_env.py). What this
worker fixes for all its processes (its directories, its account) is worked out once, here; the
parent environment is read at each spawn. The engine decides which process to start and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from workerd.anthropic.content import Turn
from workerd.cli.bridge import Bridge
from workerd.cli.child_env import child_env
from workerd.cli.control import relay
from workerd.cli.invocation import Signature
from workerd.cli.process import CliProcess, ProcessTable
from workerd.cli.resume import (
    RESUME_MIN_TURNS,
    RESUME_MIN_TURNS_SYSTEM_TURNS,
    SYSTEM_TURNS_SINCE,
    SessionFile,
    awaits_tool_results,
    conversation_date,
    identity_for,
    session_file,
)
from workerd.cli.workdirs import work_dir_for
from workerd.config import WorkerdConfig

logger = logging.getLogger(__name__)
SYSTEM_PROMPT_FILE = "system-prompt.txt"


class Spawner:
    """Starts this worker's CLI processes and keeps track of the files each one was given."""

    def __init__(self, config: WorkerdConfig, table: ProcessTable) -> None:
        self._config = config
        self._table = table
        self.agent = config.spec.mode == "agent"
        # Fixed for this worker: worked out once, not per spawn.
        self._worker_dir = config.paths.worker_dir(config.spec.name)
        self._chat_dir = config.chat_dir
        self._work_root = config.work_root
        self._config_dir = config.config_dir
        self._home = str(config.home)
        self._prompt_dirs: dict[int, Path] = {}
        self._session_files: dict[int, Path] = {}  # transcripts a process was started with
        self._workdirs: dict[int, Path] = {}
        self.cli_version: tuple[int, int, int] | None = None  # set once probed (server.py)

    def resumes(self, model: str, history: list[Turn]) -> bool:
        """Whether a rebuild of `history` goes in by --resume (resume.py): a long one, and on
        2.1.332 every one that only this makes byte-stable (the model's identity known)."""
        if self.resume_min_turns(model) == RESUME_MIN_TURNS:
            return len(history) >= RESUME_MIN_TURNS
        return len(history) >= RESUME_MIN_TURNS_SYSTEM_TURNS and not awaits_tool_results(history)

    def resume_min_turns(self, model: str) -> int:
        stable = identity_for(model, "", "") is not None
        if self.cli_version and self.cli_version >= SYSTEM_TURNS_SINCE and stable:
            return RESUME_MIN_TURNS_SYSTEM_TURNS
        return RESUME_MIN_TURNS

    async def spawn(
        self,
        signature: Signature,
        request_id: str,
        workdir: Path | None = None,
        sampling: dict[str, str] | None = None,
        history: list[Turn] | None = None,
        opened_at: float = 0.0,
    ) -> CliProcess | None:
        """A new process of `signature` (in `workdir`, resuming `history` of a conversation
        opened at `opened_at`, if given); None when it cannot be started (logged)."""
        prompt_dir = self._prompt_dir(signature)
        cwd = self._cwd(request_id, workdir)
        argv = signature.argv(str(prompt_dir / SYSTEM_PROMPT_FILE))
        session = None
        if history:  # a long history is seconds of work: off the loop (spawning takes longer)
            model = signature.model
            session = await asyncio.to_thread(self._session_file, cwd, history, model, opened_at)
        if session is not None:
            argv += ["--resume", session.session_id]
        try:
            child = await self._table.spawn(
                argv,
                {**self._env(), **(sampling or {})},
                str(cwd),
                request_id,
                signature.model,
            )
        except OSError as exc:
            logger.error("cannot start %s: %s", signature.bin_path, exc)
            shutil.rmtree(prompt_dir, ignore_errors=True)
            if session is not None:
                session.path.unlink(missing_ok=True)
            return None
        self._keep(child, prompt_dir, cwd, session)
        self._equip(child, signature, sampling)
        logger.info("child %d started (%s, model %s)", child.pid, signature.mode, signature.model)
        return child

    def _prompt_dir(self, signature: Signature) -> Path:
        """A private directory holding the process's system prompt file."""
        prompt_dir = Path(tempfile.mkdtemp(dir=self._worker_dir))
        system_file = prompt_dir / SYSTEM_PROMPT_FILE
        system_file.write_text(signature.system_prompt, encoding="utf-8")
        return prompt_dir

    def _cwd(self, request_id: str, workdir: Path | None) -> Path:
        if not self.agent:
            return self._chat_dir
        # A private working directory per conversation (or warm process).
        name = request_id or f"warm-{uuid.uuid4().hex[:12]}"
        cwd = workdir or work_dir_for(self._work_root, name)
        cwd.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cwd

    def _session_file(
        self, cwd: Path, history: list[Turn], model: str, opened_at: float
    ) -> SessionFile | None:
        identity = None
        if self.cli_version and self.cli_version >= SYSTEM_TURNS_SINCE:
            os_version = f"{os.uname().sysname} {os.uname().release}"
            identity = identity_for(model, conversation_date(opened_at, time.time()), os_version)
        minimum = self.resume_min_turns(model)
        session = session_file(self._config_dir, cwd, history, identity, minimum)
        if session is not None:
            session.path.parent.mkdir(parents=True, exist_ok=True)
            session.path.write_text(session.text, encoding="utf-8")
        return session

    def _keep(
        self, child: CliProcess, prompt_dir: Path, cwd: Path, session: SessionFile | None
    ) -> None:
        """Remember the files this process was given, to remove them when it is gone."""
        if session is not None:
            self._session_files[child.pid] = session.path
        self._prompt_dirs[child.pid] = prompt_dir
        if self.agent:
            self._workdirs[child.pid] = child.workdir = cwd

    def _equip(
        self, child: CliProcess, signature: Signature, sampling: dict[str, str] | None
    ) -> None:
        """What the process runs with: its signature's key, its settings, the client's tools."""
        child.signature = signature.key
        child.sampling = dict(sampling or {})
        if signature.client_tools:
            child.bridge = Bridge(signature.client_tools)
            child.intercept = lambda line: relay(child, line)

    def _env(self) -> dict[str, str]:
        extra_env = {}
        if self.agent and os.geteuid() == 0:
            extra_env["IS_SANDBOX"] = "1"  # the CLI refuses to skip permissions as root otherwise
        return self.environment(extra_env)

    def environment(self, request_env: dict[str, str]) -> dict[str, str]:
        """A child's environment: this worker's account and settings, then the request's."""
        config = self._config
        return child_env(
            os.environ,
            worker=config.spec.name,
            state_dir=str(config.paths.root),
            home=self._home,
            config_dir=str(self._config_dir),
            token=config.spec.token,
            api_key=config.spec.api_key,
            base_url=config.anthropic_base_url,
            max_retries=config.cli_max_retries,
            extra=dict(config.spec.env),
            request=request_env,
        )

    def started_with_history(self, pid: int) -> bool:
        """The process read its conversation's history at start-up (a session file)."""
        return pid in self._session_files

    def workdir_of(self, pid: int) -> Path | None:
        """Agent mode: the working directory the process was started in."""
        return self._workdirs.get(pid)

    # --- when a process is done with them -------------------------------------------------

    def forget_session_file(self, pid: int) -> None:
        """The process read its session file at start-up and holds the history now."""
        path = self._session_files.pop(pid, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def forget(self, pid: int) -> None:
        """The process is gone: its prompt and session files go with it; an agent's working
        directory stays for its conversation, its retention counted from now (reaper.py)."""
        prompt_dir = self._prompt_dirs.pop(pid, None)
        if prompt_dir is not None:
            shutil.rmtree(prompt_dir, ignore_errors=True)
        self.forget_session_file(pid)
        workdir = self._workdirs.pop(pid, None)
        if workdir is not None:
            with contextlib.suppress(OSError):
                os.utime(workdir)
