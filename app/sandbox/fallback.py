"""The fallback backend for development machines without bubblewrap. UNSAFE.

It applies the same rlimits, runs in its own process group (killed at the end) and, when the
server is root, as the dedicated sandbox uid — but there are NO namespaces: the program sees
the host filesystem, network and processes. ``/readyz`` says so and production refuses it
(``app.settings.production_problems``).
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from app.sandbox.bwrap import PYTHON
from app.sandbox.interface import ExecutorHealth, Language, RunRequest
from app.sandbox.local import LocalExecutor, program_env
from app.sandbox.runner import Launch, prlimit_argv
from app.settings import Settings

log = logging.getLogger(__name__)
WARNING = "UNSAFE fallback sandbox: no namespaces, the host is visible to every run"


class FallbackExecutor(LocalExecutor):
    backend = "fallback"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        log.warning(WARNING)

    def build(self, request: RunRequest, workspace: Path, source_fd: int) -> Launch:
        # The source is read through the memfd: nothing is written into the workspace.
        source = f"/proc/self/fd/{source_fd}"
        if request.language is Language.python:
            python = (
                PYTHON if Path(PYTHON).exists() else (shutil.which("python3") or sys.executable)
            )
            program = [python, source, *request.args]
        else:
            program = ["/bin/sh", source]
        env = program_env(request.language, str(workspace))
        return Launch(
            argv=prlimit_argv(request.limits, address_space=not self.memory_by_cgroup) + program,
            env=env,
            cwd=str(workspace),
            pass_fds=(source_fd,),
            user=self.owner,
        )

    async def health(self) -> ExecutorHealth:
        health = await super().health()
        return health.model_copy(update={"detail": (health.detail or WARNING)})
