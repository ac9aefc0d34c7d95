"""Run wrk against a URL and read requests/s and latency percentiles from its report."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

# wrk's default report has no p95; this script prints the percentiles we compare.
_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("NOX p50_us=%d p95_us=%d p99_us=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass
class Load:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int

    def line(self, name: str) -> str:
        return (
            f"{name:<28} {self.rps:>9.0f} req/s   p50 {self.p50_ms:6.2f} ms   "
            f"p95 {self.p95_ms:6.2f} ms   p99 {self.p99_ms:6.2f} ms   errors {self.errors}"
        )


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    return path


def run_wrk(url: str, *, seconds: int, connections: int, headers: dict[str, str]) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_REPORT)
        script.flush()
        argv = [wrk_binary(), "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = re.search(r"NOX p50_us=(\d+) p95_us=(\d+) p99_us=(\d+)", out)
    assert pct is not None, out
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(
        rps=rps,
        p50_ms=int(pct.group(1)) / 1000,
        p95_ms=int(pct.group(2)) / 1000,
        p99_ms=int(pct.group(3)) / 1000,
        errors=int(errors.group(1)) if errors else 0,
    )
