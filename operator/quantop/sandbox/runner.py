"""`quantop sandbox`: emulated API server + the real operator process + the node simulator, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import kmock
import yaml

from .cluster import Cluster
from .kapi import ApiServerEmulator, register_resources
from .node import NodeSimulator
from .processes import Supervisor, free_port, quantop_command


def write_kubeconfig(path: Path, server: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "quantop-sandbox", "cluster": {"server": server}}],
        "users": [{"name": "sandbox", "user": {"token": "sandbox"}}],
        "contexts": [
            {
                "name": "quantop-sandbox",
                "context": {"cluster": "quantop-sandbox", "user": "sandbox", "namespace": "default"},
            }
        ],
        "current-context": "quantop-sandbox",
    }
    path.write_text(yaml.safe_dump(config))


@dataclass
class Sandbox:
    cluster: Cluster
    node: NodeSimulator
    workdir: Path
    kubeconfig: Path
    metrics_port: int
    supervisor: Supervisor
    operator_argv: list[str]
    operator_env: dict[str, str]

    async def restart_operator(self) -> None:
        """Stop the operator process and start a new one, as a rescheduled operator pod would."""
        await self.supervisor.stop("operator")
        await self.supervisor.start("operator", self.operator_argv, env=self.operator_env)


@contextlib.asynccontextmanager
async def sandbox(
    workdir: Path,
    *,
    port: int = 0,
    config: str | None = None,
    resync_seconds: float = 2.0,
    emulator_args: list[str] | None = None,
    max_parallel_jobs: int = 1,
) -> AsyncIterator[Sandbox]:
    """Everything runs until the block exits; then every process is stopped, none is left behind.

    `max_parallel_jobs` validation Jobs run at once (the others wait, as for a free node); 1 keeps
    load tests from measuring each other on a small machine.
    """
    import httpx

    workdir.mkdir(parents=True, exist_ok=True)
    api = ApiServerEmulator()
    api.request_history = 16
    async with kmock.Server(api, port=port or free_port()):
        register_resources(api)
        server = str(api.url).rstrip("/")
        kubeconfig = workdir / "kubeconfig"
        write_kubeconfig(kubeconfig, server)
        supervisor = Supervisor(workdir / "logs")
        metrics_port, health_port = free_port(), free_port()
        env = {
            "QUANTOP_KUBE_API": server,
            "QUANTOP_RESYNC_SECONDS": str(resync_seconds),
            # no internet here: models outside the built-in table are reported, not fetched
            "QUANTOP_HUB_URL": os.environ.get("QUANTOP_HUB_URL", "http://127.0.0.1:9"),
            # Services are local proxies here (the node simulator writes their addresses)
            "QUANTOP_SERVICE_URLS": str((workdir / "services.json").resolve()),
        }
        argv = quantop_command(
            "run",
            "--standalone",
            "--all-namespaces",
            "--metrics-port",
            str(metrics_port),
            "--health-port",
            str(health_port),
        )
        if config:
            argv += ["--config", config]
        await supervisor.start("operator", argv, env=env)
        node = NodeSimulator(server, workdir, emulator_args=emulator_args, max_parallel_jobs=max_parallel_jobs)
        loop_task = asyncio.create_task(node.run())
        try:
            async with httpx.AsyncClient(base_url=server) as http:
                yield Sandbox(
                    Cluster(api=api, http=http), node, workdir, kubeconfig, metrics_port, supervisor, argv, env
                )
        finally:
            # Whatever happened (even a crashed node loop), every process started here is stopped.
            try:
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await loop_task
                await node.stop()
            finally:
                await supervisor.stop_all()
