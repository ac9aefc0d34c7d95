"""The Nox Python client: typed, on httpx, synchronous (``NoxClient``) and asynchronous
(``AsyncNoxClient``), with streamed and asynchronous runs. ``nox remote`` is built on it.

    from app.client import NoxClient
    with NoxClient.from_config() as nox:         # NOX_URL / NOX_TOKEN or the config file
        print(nox.run_python("print(6 * 7)").stdout)
        for event in nox.stream("python", "import time; print(1); time.sleep(1); print(2)"):
            ...
"""

from app.client.asynchronous import AsyncNoxClient
from app.client.calls import RunOptions
from app.client.config import ClientConfig
from app.client.errors import NoxConnectionError, NoxError
from app.client.events import Cancelled, Failed, Finished, Output, RunEvent
from app.client.sync import NoxClient

__all__ = [
    "AsyncNoxClient",
    "Cancelled",
    "ClientConfig",
    "Failed",
    "Finished",
    "NoxClient",
    "NoxConnectionError",
    "NoxError",
    "Output",
    "RunEvent",
    "RunOptions",
]
