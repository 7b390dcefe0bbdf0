"""A real two-node Ray cluster on loopback with token authentication, driven the way users do:
``launch.py --address`` from a shell, and ``ray job submit --working-dir .``.

One cluster for the module: a head (1 CPU, the ``trial_driver`` resource, dashboard and job
server on 127.0.0.1) and a second node (1 CPU), both from ``ray start``; stopped by pid.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
import torch
import yaml

from ssl_core.checkpoint import read_checkpoint
from ssl_core.config import config_from_dict
from ssl_core.data_pipeline import build_data
from ssl_core.eval_runner import Evaluator
from ssl_core.trainer import build_model
from tests.ray_cluster import RAY, LocalRayCluster
from tests.tiny import tiny_space_text

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SPACE = tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=2, epochs=2, concurrent=2,
                        base={"eval": {"linear_probe": "never"}}, description="two-node test search")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, data_cache, birdsong_root):
    root = tmp_path_factory.mktemp("cluster")
    (root / "space.yaml").write_text(SPACE)
    # The storage root is set once, in the head's environment: jobs submitted to it inherit it.
    ray_cluster = LocalRayCluster(root, extra_env={"SSL_SEARCH_STORAGE": str(root / "shared"),
                                                   "SSL_SEARCH_CACHE": str(data_cache)})
    try:
        ray_cluster.start_head(cpus=1, resources={"trial_driver": 2})
        ray_cluster.add_node("node-b", cpus=1)
        yield ray_cluster
    finally:
        ray_cluster.stop()
    assert not ray_cluster.processes(), "every process of the cluster is stopped"


def _node_ids(cluster: LocalRayCluster) -> set[str]:
    out = subprocess.run([RAY, "list", "nodes", "--address", cluster.dashboard_url, "--format", "json"],
                         env=cluster.client_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return {node["node_id"] for node in json.loads(out.stdout) if node["state"] == "ALIVE"}


def _last_result(trial_dir: Path) -> dict:
    lines = [line for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]
    return json.loads(lines[-1])


def test_dashboard_and_job_server_listen_on_loopback_only(cluster) -> None:
    pids = {proc.pid for proc in cluster.processes()}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    dashboard = [c for c in listening if c.laddr.port == cluster.dashboard_port]
    assert dashboard and all(c.laddr.ip == "127.0.0.1" for c in dashboard)


def test_token_authentication_is_on(cluster) -> None:
    request = urllib.request.Request(f"{cluster.dashboard_url}/api/jobs/")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    request.add_header("Authorization", f"Bearer {cluster.token_path.read_text().strip()}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_search_trials_land_on_both_nodes(cluster) -> None:
    nodes = _node_ids(cluster)
    assert len(nodes) == 2
    storage = cluster.root / "direct"
    out = subprocess.run([sys.executable, "launch.py", "--space", str(cluster.root / "space.yaml"), "--address",
                          cluster.address, "--storage", str(storage), "--name", "two-nodes"],
                         cwd=REPO, env=cluster.client_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "on the cluster at 127.0.0.1" in out.stdout and "2 trial(s) at once" in out.stdout
    trials = sorted((storage / "two-nodes").glob("run_trial_*"))
    assert len(trials) == 2
    results = [_last_result(t) for t in trials]
    assert all(r["epoch"] == 2 for r in results)
    # One CPU per node, one 1-CPU worker per trial, two trials at once: one trial on each node.
    assert {r["train_nodes"] for r in results} == nodes


def test_ray_job_submit_runs_a_ddp_trial_across_nodes(cluster) -> None:
    """``ray job submit --working-dir .``; the trial's two workers span both nodes, and the kNN it
    reports equals a one-process evaluation of its checkpoint (metrics over both ranks' embeddings)."""
    env = cluster.client_env()
    submit = subprocess.run(
        [RAY, "job", "submit", "--address", cluster.dashboard_url, "--working-dir", str(REPO), "--",
         "python", "launch.py", "--space", str(cluster.root / "space.yaml"), "--address", "auto",
         "--name", "submitted", "--trials", "1", "--workers-per-trial", "2"],
        env=env, capture_output=True, text=True, timeout=900)
    log = submit.stdout + submit.stderr
    assert submit.returncode == 0, log[-4000:]
    assert "succeeded" in log, log[-4000:]
    job_id = next(word.strip("'") for line in log.splitlines() if "raysubmit_" in line
                  for word in line.split() if word.strip("'").startswith("raysubmit_"))
    status = subprocess.run([RAY, "job", "status", "--address", cluster.dashboard_url, job_id], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "succeeded" in (status.stdout + status.stderr).lower()

    # Results landed in the storage root set in the head's environment (no --storage given).
    experiment = cluster.root / "shared" / "submitted"
    for name in ("trials.csv", "summary.md", "best_config.yaml", "best_backbone.pth"):
        assert (experiment / name).is_file(), name
    (trial,) = experiment.glob("run_trial_*")
    result = _last_result(trial)
    assert len(result["train_nodes"].split(",")) == 2, "the two workers ran on two nodes"

    checkpoint = trial / "ssl" / "checkpoints" / f"epoch_{result['epoch']:04d}"
    cfg = config_from_dict(yaml.safe_load((checkpoint / "config.yaml").read_text()))
    cfg.data.num_workers = 0
    device = torch.device("cpu")
    data = build_data(cfg, 0, 1, device)
    method = build_model(cfg, data, device)
    method.load_state_dict(read_checkpoint(checkpoint)["model"])
    single = Evaluator(cfg, data, device).run(method, epoch=result["epoch"], final=True)
    for name in ("knn_top1", "knn_top5", "head_top1", "medium_top1", "tail_top1"):
        assert result[name] == pytest.approx(single[name], abs=1e-9), name
    for name in ("emb_std", "eff_rank", "uniform"):
        assert result[name] == pytest.approx(single[name], rel=1e-4), name
