"""A real multi-node Ray cluster on this machine, started with ``ray start`` as a user would.

Every node listens on loopback ports picked here, with token authentication on (a token
file in a temporary folder, never ``~/.ray``). Each process a node starts inherits a marker
variable in its environment, so the nodes are found and stopped by pid (``ray stop`` would
stop every Ray on the machine, other tests' included).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.loopback import free_loopback_port

RAY = str(Path(sys.executable).with_name("ray"))
CLUSTER_MARKER = "SSL_SEARCH_TEST_CLUSTER"
NODE_MARKER = "SSL_SEARCH_TEST_NODE"


@dataclass
class LocalRayCluster:
    root: Path  # the token and HOME live here
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. SSL_SEARCH_STORAGE for the head's jobs
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    gcs_port: int = 0
    dashboard_port: int = 0
    nodes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "home").mkdir(exist_ok=True)
        self.token_path = self.root / "auth_token"
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.temp_dirs: dict[str, Path] = {}

    def _temp_dir(self, node: str) -> Path:
        """Each node's own Ray temp dir, as on separate machines: nodes sharing one would share
        ``runtime_resources/``, and one node's clean-up would delete a job's working dir under
        another. Short, under /tmp: a unix socket path may not exceed 107 bytes."""
        self.temp_dirs[node] = Path(tempfile.mkdtemp(prefix=f"ssl-ray-{node[:6]}-", dir="/tmp"))
        return self.temp_dirs[node]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def client_env(self) -> dict[str, str]:
        """What a driver or the ``ray`` CLI needs to talk to this cluster (token mode on)."""
        env = dict(os.environ, HOME=str(self.root / "home"), RAY_AUTH_MODE="token",
                   RAY_AUTH_TOKEN_PATH=str(self.token_path), RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS", None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` = this venv
        return env

    def _ports(self) -> list[str]:
        ports = {"--node-manager-port": 0, "--object-manager-port": 0, "--runtime-env-agent-port": 0,
                 "--dashboard-agent-grpc-port": 0, "--dashboard-agent-listen-port": 0, "--metrics-export-port": 0}
        return [f"{flag}={free_loopback_port()}" for flag in ports]

    def _start(self, name: str, args: list[str]) -> None:
        env = dict(self.client_env(), **self.extra_env, **{CLUSTER_MARKER: self.marker, NODE_MARKER: name})
        done = subprocess.run([RAY, "start", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
                               f"--temp-dir={self._temp_dir(name)}", *self._ports(), *args], env=env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start ({name}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        self.nodes.append(name)

    def start_head(self, cpus: int, resources: dict[str, float]) -> None:
        self.gcs_port, self.dashboard_port = free_loopback_port(), free_loopback_port()
        self._start("head", ["--head", f"--port={self.gcs_port}", f"--num-cpus={cpus}",
                             f"--resources={json.dumps(resources)}", "--dashboard-host=127.0.0.1",
                             f"--dashboard-port={self.dashboard_port}",
                             f"--ray-client-server-port={free_loopback_port()}"])
        self._wait_for_dashboard()

    def _wait_for_dashboard(self, timeout: float = 120) -> None:
        """``ray start`` returns before the dashboard (and its job server) answers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.dashboard_url}/api/version", timeout=5):
                    return
            except urllib.error.HTTPError:
                return  # it answers (401 without the token): it is up
            except OSError:
                time.sleep(1)
        logs = sorted(self.temp_dirs["head"].glob("session_*/logs/dashboard.log"))
        tail = logs[-1].read_text()[-3000:] if logs else "(no dashboard.log)"
        self.stop()
        raise RuntimeError(f"the dashboard at {self.dashboard_url} did not answer in {timeout:.0f} s:\n{tail}")

    def add_node(self, name: str, cpus: int, resources: dict[str, float] | None = None) -> None:
        self._start(name, [f"--address={self.address}", f"--num-cpus={cpus}",
                           f"--resources={json.dumps(resources or {})}"])

    def processes(self, node: str | None = None) -> list[psutil.Process]:
        """Live processes started by this cluster (or by one of its nodes), found by their environment."""
        found = []
        for proc in psutil.process_iter():
            try:
                env = proc.environ()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
                continue
            if env.get(CLUSTER_MARKER) == self.marker and (node is None or env.get(NODE_MARKER) == node):
                found.append(proc)
        return found

    def kill_node(self, node: str) -> list[int]:
        """SIGKILL every process of one node (raylet, its workers, agents) by pid: a lost machine."""
        procs = self.processes(node)
        for proc in procs:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        psutil.wait_procs(procs, timeout=30)
        return [p.pid for p in procs]

    def stop(self) -> None:
        """Stop every node: SIGTERM by pid, then SIGKILL what is left."""
        procs = self.processes()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=20)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=20)
        deadline = time.time() + 20
        while self.processes() and time.time() < deadline:  # late children of dying parents
            for proc in self.processes():
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.5)
        for folder in self.temp_dirs.values():
            shutil.rmtree(folder, ignore_errors=True)
