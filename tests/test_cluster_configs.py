"""Cluster configs: launcher YAMLs against Ray's own autoscaler schema and validation, and the
KubeRay manifests' required fields, GPU resources and safety settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"
LAUNCHER_CONFIGS = ["onprem.yaml", "aws.yaml"]
KUBERAY = ["kuberay-raycluster.yaml", "kuberay-rayjob.yaml"]
PROFILES = ["workstation.yaml"]  # launch.py's resource profiles (tests/test_resource_profile.py)


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def test_every_cluster_file_is_covered() -> None:
    assert sorted(p.name for p in CLUSTER.glob("*.yaml")) == sorted(LAUNCHER_CONFIGS + KUBERAY + PROFILES)


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_sets_the_storage_root_once_on_the_head(name: str) -> None:
    config = _load(name)
    head = " ".join(config["head_start_ray_commands"])
    assert "SSL_SEARCH_STORAGE=/shared/ssl-search" in head  # jobs started on the head inherit it
    assert "--storage" not in (CLUSTER / name).read_text()


def test_kuberay_storage_root_comes_from_the_image() -> None:
    assert "ENV SSL_SEARCH_STORAGE=/results/ssl-search" in (CLUSTER / "Dockerfile").read_text()
    for name in KUBERAY:
        text = (CLUSTER / name).read_text()
        assert "--storage" not in text and "mountPath: /results" in text


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_passes_rays_schema_and_validation(name: str) -> None:
    config = _load(name)
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` runs before touching a cloud


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_keeps_token_auth_on_and_the_dashboard_on_loopback(name: str) -> None:
    config = _load(name)
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in workers
    assert "--dashboard-host=127.0.0.1" in head
    assert "~/.ray/auth_token" in config["file_mounts"]
    assert any("pip install" in c and "ssl-search" in c for c in config["setup_commands"])
    head_type = config.get("head_node_type")
    if head_type:  # multi-node-type configs: the head holds trial drivers, no trial workers
        head_resources = config["available_node_types"][head_type]["resources"]
        assert head_resources["CPU"] == 0 and head_resources["trial_driver"] >= 1
        gpu_types = [t for t in config["available_node_types"].values() if t["resources"].get("GPU", 0) >= 1]
        assert gpu_types and all(t["max_workers"] >= 1 for t in gpu_types)
    else:
        assert "--num-cpus=0" in head and "trial_driver" in head


def _cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]


@pytest.mark.parametrize("name", KUBERAY)
def test_kuberay_manifest_has_required_fields_gpus_and_token_auth(name: str) -> None:
    doc = _load(name)
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] in ("RayCluster", "RayJob")
    assert doc["metadata"]["name"]
    spec = _cluster_spec(doc)
    assert spec["authOptions"] == {"mode": "token", "secretName": "ssl-search-ray-token"}
    head = spec["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP", "no LoadBalancer / NodePort: reach it with kubectl port-forward"
    assert head["rayStartParams"]["num-cpus"] == "0" and "trial_driver" in head["rayStartParams"]["resources"]
    assert head["template"]["spec"]["containers"][0]["image"]
    groups = spec["workerGroupSpecs"]
    assert groups
    for group in groups:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    if doc["kind"] == "RayJob":
        assert "launch.py" in doc["spec"]["entrypoint"] and "--address auto" in doc["spec"]["entrypoint"]
        assert doc["spec"]["shutdownAfterJobFinishes"] is True
        yaml.safe_load(doc["spec"]["runtimeEnvYAML"])  # the runtime env itself is valid YAML
