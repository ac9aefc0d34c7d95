"""Pick the executor a process uses from its settings."""

from __future__ import annotations

from app.sandbox.interface import Executor
from app.settings import SandboxBackend, Settings


def build_executor(settings: Settings) -> Executor:
    """``remote`` talks to ``nox executor``; ``bwrap`` and ``fallback`` run in-process.

    An explicitly chosen bwrap that cannot work here is still built: its health check (and so
    ``/readyz``) says why, instead of silently degrading to the unsafe fallback.
    """
    backend = settings.effective_sandbox_backend
    if backend is SandboxBackend.remote:
        from app.sandbox.remote import RemoteExecutor

        return RemoteExecutor(
            settings.executor_url,
            settings.executor_secret.get_secret_value(),
            queue_wait_s=settings.sandbox_queue_wait_s,
        )
    if backend is SandboxBackend.bwrap:
        from app.sandbox.bwrap import BwrapExecutor

        return BwrapExecutor(settings)
    from app.sandbox.fallback import FallbackExecutor

    return FallbackExecutor(settings)
