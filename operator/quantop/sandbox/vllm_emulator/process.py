"""`quantop emulate --engine vllm` as a child process, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

from quantop.sandbox.processes import free_port, quantop_command


@contextlib.contextmanager
def vllm_emulator(*args: str, timeout: float = 30.0) -> Iterator[str]:
    """Yields the emulator's URL once /health answers 200, and stops it on exit."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        quantop_command("emulate", "--engine", "vllm", "--port", str(port), *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the vLLM emulator ({' '.join(args)}) did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
