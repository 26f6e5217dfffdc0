"""The node simulator: plays kubelet, the Job controller, kube-proxy and the garbage collector.

For each TGI Deployment it runs `quantop emulate-tgi` processes (one per replica) with the
profile of its method and GPU, and writes Pod and Deployment status as a kubelet would. For
each validation Job it runs the Job's command as a local process against the Service's
local port and writes the termination message and Job status back. Faults are injected with
the QuantizedModel annotation `sandbox.quantop.dev/fault` (sandbox only): oom, crash, slow,
inaccurate, errors, hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from quantop.api.timestamps import now_rfc3339
from quantop.resources.names import ANNOTATION_GPU_MODEL

from .processes import Supervisor, free_port, quantop_command
from .proxy import ServiceProxy
from .tgi_emulator import profile_for
from .vllm_emulator.pods import vllm_emulate_args

log = logging.getLogger("quantop.sandbox.node")

FAULT_ANNOTATION = "sandbox.quantop.dev/fault"
MANAGED = {"app.kubernetes.io/managed-by": "quantop"}
GARBAGE = [
    ("/apis/apps/v1", "deployments"),
    ("/api/v1", "services"),
    ("/apis/batch/v1", "jobs"),
    ("/api/v1", "pods"),
    ("/apis/monitoring.coreos.com/v1", "podmonitors"),
]
#: Readiness probe failures in a row before a pod is unready (kubelet's default failureThreshold).
FAILURE_THRESHOLD = 3

FAULT_OVERRIDES = {
    "slow": ["--set", "latency_scale=3.0"],
    "inaccurate": ["--set", "accuracy=0.2"],
    "errors": ["--set", "error_rate=0.3"],
}


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _arg(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def _key(obj: dict[str, Any]) -> str:
    m = obj["metadata"]
    return f"{m['namespace']}/{m['name']}"


def _tgi_pod(dep: dict[str, Any], name: str, status: dict[str, Any]) -> dict[str, Any]:
    """A pod of a TGI Deployment as kubelet reports it: the template's labels, the Deployment's owner."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": dep["metadata"]["namespace"],
            "labels": dep["spec"]["template"]["metadata"]["labels"],
            "ownerReferences": dep["metadata"].get("ownerReferences", []),
        },
        "spec": {"containers": [{"name": "tgi", "image": dep["spec"]["template"]["spec"]["containers"][0]["image"]}]},
        "status": status,
    }


class NodeSimulator:
    def __init__(
        self, api_url: str, workdir: Path, *, emulator_args: list[str] | None = None, max_parallel_jobs: int = 1
    ) -> None:
        self.max_parallel_jobs = max_parallel_jobs
        self.probe_failures: dict[int, int] = {}  # emulator port -> readiness failures in a row
        self.ready_ports: set[int] = set()
        self.http = httpx.AsyncClient(base_url=api_url, timeout=10)
        self.workdir = workdir
        self.supervisor = Supervisor(workdir / "logs")
        self.emulator_args = emulator_args or []
        self.replicas: dict[str, list[str]] = {}  # deployment key -> process names
        self.proxies: dict[str, ServiceProxy] = {}  # service key -> proxy
        self.service_ports: dict[str, int] = {}
        self.jobs: dict[str, str] = {}  # job key -> process name
        self.faulted: dict[str, str] = {}  # deployment key -> fault applied at start
        self.pod_labels: dict[str, dict[str, str]] = {}  # process name -> labels of its pod
        self.selectors: dict[str, dict[str, str]] = {}  # service key -> selector

    # --- API helpers -------------------------------------------------------------------------
    async def _list(self, path: str) -> list[dict[str, Any]]:
        r = await self.http.get(path)
        # An API server error is not an empty cluster: kubelet keeps pods running when it cannot
        # reach the API server, and so does the simulator (the tick is skipped and logged).
        r.raise_for_status()
        return [o for o in r.json().get("items", []) if all(_labels(o).get(k) == v for k, v in MANAGED.items())]

    async def _patch(self, path: str, body: dict[str, Any]) -> None:
        await self.http.patch(path, json=body, headers={"Content-Type": "application/merge-patch+json"})

    async def _owner_fault(self, obj: dict[str, Any]) -> str | None:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "QuantizedModel":
                r = await self.http.get(
                    f"/apis/quantop.dev/v1alpha1/namespaces/{obj['metadata']['namespace']}/quantizedmodels/{ref['name']}"
                )
                if r.status_code == 200:
                    value = ((r.json().get("metadata") or {}).get("annotations") or {}).get(FAULT_ANNOTATION)
                    return str(value) if value else None
        return None

    # --- the loop ------------------------------------------------------------------------------
    async def run(self, interval: float = 0.5) -> None:
        while True:
            try:
                await self.tick()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("node simulator: %s", exc)
            except Exception:  # one bad object must not stop the node, as it would not stop a kubelet
                log.exception("node simulator: tick failed")
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        deployments = await self._list("/apis/apps/v1/deployments")
        await self._sync_deployments(deployments)
        await self._sync_services(await self._list("/api/v1/services"))
        await self._sync_jobs(await self._list("/apis/batch/v1/jobs"))
        await self._collect_garbage()

    async def stop(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
        await self.supervisor.stop_all()
        await self.http.aclose()

    # --- Deployments -> emulator processes and pod status -------------------------------------
    async def _sync_deployments(self, deployments: list[dict[str, Any]]) -> None:
        seen = set()
        for dep in deployments:
            key = _key(dep)
            seen.add(key)
            await self._sync_deployment(key, dep)
        for key in list(self.replicas):
            if key not in seen:
                await self._scale(key, None, 0)

    async def _sync_deployment(self, key: str, dep: dict[str, Any]) -> None:
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        wanted = int(dep["spec"].get("replicas") or 0)
        if key not in self.faulted:
            self.faulted[key] = await self._owner_fault(dep) or ""
        fault = self.faulted[key]
        if fault in ("oom", "crash") and wanted > 0:
            await self._write_failing_pod(dep, fault)
            await self._patch(
                f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                {"status": {"replicas": wanted, "availableReplicas": 0, "readyReplicas": 0}},
            )
            return
        await self._scale(key, dep, wanted)
        ready = 0
        for pname in self.replicas.get(key, []):
            proc = self.supervisor.processes.get(pname)
            healthy = proc is not None and proc.running and await self._healthy(proc.port)
            ready += int(healthy)
            await self._write_pod(dep, pname, healthy, proc.proc.returncode if proc else None)
        status = {
            "replicas": wanted,
            "availableReplicas": ready,
            "readyReplicas": ready,
            "observedGeneration": dep["metadata"].get("generation", 1),
        }
        if (dep.get("status") or {}) != {**(dep.get("status") or {}), **status}:
            await self._patch(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}", {"status": status})

    async def _scale(self, key: str, dep: dict[str, Any] | None, wanted: int) -> None:
        names = self.replicas.setdefault(key, [])
        while len(names) > wanted:
            pname = names.pop()
            await self.supervisor.stop(pname)
            ns, _, _ = key.partition("/")
            await self.http.delete(f"/api/v1/namespaces/{ns}/pods/{pname.split('/')[-1]}")
        while dep is not None and len(names) < wanted:
            pname = f"{key}-{len(names)}"
            port = free_port()
            await self.supervisor.start(
                pname.replace("/", "_"), self._emulator_command(dep, port, self.faulted.get(key, "")), port=port
            )
            self.supervisor.processes[pname] = self.supervisor.processes.pop(pname.replace("/", "_"))
            names.append(pname)
        if wanted == 0 and not names:
            self.replicas.pop(key, None)
            self.faulted.pop(key, None)

    def _emulator_command(self, dep: dict[str, Any], port: int, fault: str) -> list[str]:
        container = dep["spec"]["template"]["spec"]["containers"][0]
        args: list[str] = container.get("args") or []
        method = _arg(args, "--quantize") or "none"
        template = dep["spec"]["template"]["metadata"]
        # The GPU model behind the node pool (a profile may be named after its pool, not its GPU).
        gpu = (template.get("annotations") or {}).get(ANNOTATION_GPU_MODEL) or _labels(dep).get(
            "quantop.dev/gpu", "a10"
        )
        if container.get("name") == "vllm":
            vllm = quantop_command(*vllm_emulate_args(args, port, gpu))
            return vllm + self.emulator_args + FAULT_OVERRIDES.get(fault, [])
        argv = quantop_command(
            "emulate-tgi",
            "--port",
            str(port),
            "--profile",
            profile_for(gpu, method).name,
            "--model-id",
            _arg(args, "--model-id") or "model",
        )
        if _arg(args, "--max-concurrent-requests"):
            argv += ["--max-concurrent-requests", str(_arg(args, "--max-concurrent-requests"))]
        # The fault comes last so that it wins over the sandbox-wide emulator settings.
        return argv + self.emulator_args + FAULT_OVERRIDES.get(fault, [])

    async def _healthy(self, port: int | None) -> bool:
        """A readiness probe: ready after one success, unready after FAILURE_THRESHOLD failures in a row."""
        if port is None:
            return False
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                ok = (await c.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        except httpx.HTTPError:
            ok = False
        failures = 0 if ok else self.probe_failures.get(port, 0) + 1
        self.probe_failures[port] = failures
        if ok:
            self.ready_ports.add(port)  # ready from the first success, not before
        elif failures >= FAILURE_THRESHOLD:
            self.ready_ports.discard(port)
        return port in self.ready_ports

    async def _write_pod(self, dep: dict[str, Any], pname: str, ready: bool, exit_code: int | None) -> None:
        ns = dep["metadata"]["namespace"]
        name = pname.split("/")[-1]
        state: dict[str, Any] = (
            {"running": {"startedAt": now_rfc3339()}}
            if exit_code is None
            else {"terminated": {"exitCode": exit_code, "reason": "Error"}}
        )
        pod = _tgi_pod(
            dep,
            name,
            {
                "phase": "Running",
                "containerStatuses": [{"name": "tgi", "ready": ready, "restartCount": 0, "state": state}],
                "conditions": [{"type": "Ready", "status": str(ready)}],
            },
        )
        existing = await self.http.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        if existing.status_code == 404:
            await self.http.post(f"/api/v1/namespaces/{ns}/pods", json=pod)
        elif (existing.json().get("status") or {}).get("containerStatuses", [{}])[0].get("ready") != ready:
            await self._patch(f"/api/v1/namespaces/{ns}/pods/{name}", {"status": pod["status"]})

    async def _write_failing_pod(self, dep: dict[str, Any], fault: str) -> None:
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"] + "-0"
        last = (
            {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
            if fault == "oom"
            else {
                "terminated": {
                    "reason": "Error",
                    "exitCode": 1,
                    "message": "RuntimeError: weights not found for this quantization",
                }
            }
        )
        pod = _tgi_pod(
            dep,
            name,
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "tgi",
                        "ready": False,
                        "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": last,
                    }
                ],
            },
        )
        if (await self.http.get(f"/api/v1/namespaces/{ns}/pods/{name}")).status_code == 404:
            await self.http.post(f"/api/v1/namespaces/{ns}/pods", json=pod)

    # --- Services -> local proxies -------------------------------------------------------------
    def _backends(self, ns: str, selector: dict[str, str]) -> list[int]:
        ports = []
        for key, names in self.replicas.items():
            if not key.startswith(ns + "/"):
                continue
            for pname in names:
                proc = self.supervisor.processes.get(pname)
                labels = self.pod_labels.get(pname, {})
                if proc and proc.running and proc.port and all(labels.get(k) == v for k, v in selector.items()):
                    ports.append(proc.port)
        return ports

    def _service_backends(self, ns: str, key: str) -> list[int]:
        return self._backends(ns, self.selectors.get(key, {"quantop.dev/revision": "none"}))

    async def _sync_services(self, services: list[dict[str, Any]]) -> None:
        # Pod labels come from each Deployment's template (the selector target).
        for dep in await self._list("/apis/apps/v1/deployments"):
            for pname in self.replicas.get(_key(dep), []):
                self.pod_labels[pname] = dep["spec"]["template"]["metadata"]["labels"]
        current = set()
        for svc in services:
            key = _key(svc)
            current.add(key)
            if key not in self.proxies:
                port = free_port()
                ns = svc["metadata"]["namespace"]
                proxy = ServiceProxy(key, functools.partial(self._service_backends, ns, key), port)
                await proxy.start()
                self.proxies[key] = proxy
                self.service_ports[key] = port
            self.selectors[key] = dict(svc["spec"].get("selector") or {})
        for key in list(self.proxies):
            if key not in current:
                await self.proxies.pop(key).stop()
                self.service_ports.pop(key, None)
        (self.workdir / "services.json").write_text(
            json.dumps({k: f"http://127.0.0.1:{p}" for k, p in sorted(self.service_ports.items())}, indent=1)
        )

    def service_url(self, namespace: str, name: str) -> str | None:
        port = self.service_ports.get(f"{namespace}/{name}")
        return f"http://127.0.0.1:{port}" if port else None

    # --- Jobs -> local processes ----------------------------------------------------------------
    def _running_jobs(self) -> int:
        procs = (self.supervisor.processes.get(p) for p in self.jobs.values())
        return sum(1 for proc in procs if proc is not None and proc.running)

    async def _sync_jobs(self, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            key = _key(job)
            st = job.get("status") or {}
            if st.get("succeeded") or st.get("failed"):
                continue
            pname = self.jobs.get(key)
            if pname is None:
                # One validation at a time: the sandbox is one small machine, and parallel load
                # tests would measure each other. The Job waits, as it would for a free node.
                if self._running_jobs() < self.max_parallel_jobs:
                    await self._start_job(key, job)
                continue
            proc = self.supervisor.processes.get(pname)
            if proc is None:
                continue
            deadline = job["spec"].get("activeDeadlineSeconds")
            elapsed = asyncio.get_running_loop().time() - proc.started
            if proc.running and deadline and elapsed > deadline:
                await proc.stop()
                await self._finish_job(job, proc.log.with_suffix(".termination"), None, "DeadlineExceeded")
            elif not proc.running:
                await self._finish_job(job, proc.log.with_suffix(".termination"), proc.proc.returncode, None)

    async def _start_job(self, key: str, job: dict[str, Any]) -> None:
        ns = job["metadata"]["namespace"]
        container = job["spec"]["template"]["spec"]["containers"][0]
        args = list(container.get("args") or [])
        endpoint = _arg(args, "--endpoint")
        if endpoint:
            host = endpoint.split("://", 1)[-1].split(":")[0].split("/")[0]
            svc_name, _, svc_ns = host.partition(".")
            svc_ns = svc_ns.split(".")[0] or ns
            url = self.service_url(svc_ns, svc_name)
            if url is None:
                return  # the proxy for that Service starts on the next tick
            backends = self._service_backends(svc_ns, f"{svc_ns}/{svc_name}")
            if len(backends) == 1:
                # One pod behind the Service: the load test talks to it directly, so the sandbox's
                # in-process proxy (one Python event loop) does not become the bottleneck it measures.
                url = f"http://127.0.0.1:{backends[0]}"
            args[args.index("--endpoint") + 1] = url
        name = key.replace("/", "_")
        termination = self.supervisor.logs / f"{name}.termination"
        if "--termination-log" in args:
            args[args.index("--termination-log") + 1] = str(termination)
        fault = await self._owner_fault(job)
        argv = quantop_command(*args) if fault != "hang" else quantop_command("emulate-tgi", "--port", str(free_port()))
        reports = self.workdir / "reports" / name
        env = {**_fetch_policy_env(container), "MPLBACKEND": "Agg", "QUANTOP_REPORT_DIR": str(reports)}
        await self.supervisor.start(name, argv, env=env)
        self.jobs[key] = name

    async def _finish_job(
        self, job: dict[str, Any], termination: Path, exit_code: int | None, failure: str | None
    ) -> None:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        message = termination.read_text()[:4096] if termination.exists() else ""
        state: dict[str, Any] = {"terminated": {"exitCode": 137 if exit_code is None else exit_code}}
        if message:
            state["terminated"]["message"] = message
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-run",
                "namespace": ns,
                "labels": {
                    **job["spec"]["template"]["metadata"].get("labels", {}),
                    "job-name": name,
                    "batch.kubernetes.io/job-name": name,
                },
                "ownerReferences": job["metadata"].get("ownerReferences", []),
            },
            "spec": {"containers": [{"name": "validate", "image": "quantop"}]},
            "status": {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "containerStatuses": [{"name": "validate", "state": state}],
            },
        }
        await self.http.post(f"/api/v1/namespaces/{ns}/pods", json=pod)
        if exit_code == 0:
            status = {
                "succeeded": 1,
                "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": now_rfc3339()}],
            }
        else:
            reason = failure or "BackoffLimitExceeded"
            msg = "Job was active longer than specified deadline" if failure else f"exit code {exit_code}"
            status = {
                "failed": 1,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": reason,
                        "message": msg,
                        "lastTransitionTime": now_rfc3339(),
                    }
                ],
            }
        await self._patch(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}", {"status": status})

    # --- garbage collection of ownerReferences (the emulated API server has none) ---------------
    async def _collect_garbage(self) -> None:
        r = await self.http.get("/apis/quantop.dev/v1alpha1/quantizedmodels")
        owners = {
            (o.get("metadata") or {}).get("uid") for o in (r.json().get("items", []) if r.status_code == 200 else [])
        }
        for prefix, plural in GARBAGE:
            r = await self.http.get(f"{prefix}/{plural}")
            if r.status_code != 200:
                continue
            for obj in r.json().get("items", []):
                refs = [
                    ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("kind") == "QuantizedModel"
                ]
                if refs and not any(ref.get("uid") in owners for ref in refs):
                    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
                    with contextlib.suppress(httpx.HTTPError):
                        await self.http.delete(f"{prefix}/namespaces/{ns}/{plural}/{name}")


def _fetch_policy_env(container: Mapping[str, Any]) -> dict[str, str]:
    """The Job container's fetch policy (QUANTOP_FETCH_*), so a sandbox Job refuses what a real one would.

    Only those: its other entries name paths of the container's filesystem (/tmp), not the node's.
    """
    return {
        e["name"]: e["value"]
        for e in container.get("env") or []
        if str(e.get("name", "")).startswith("QUANTOP_FETCH_") and isinstance(e.get("value"), str)
    }
