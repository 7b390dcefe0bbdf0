"""The workstation profile: how many trials share a GPU and how many CPUs each takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from search_spaces import load_space, with_budget
from trainables.resource_profile import ProfileError, choose_packing, gpu_memory_warning, load_profile
from ssl_core.config import load_config
from trainables.search import _pace_train_reports, concurrent_trials, report_poll_seconds
from trainables.trial import TrialResources

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "cluster" / "workstation.yaml"


def _resources(packing) -> TrialResources:
    return TrialResources(workers=packing.workers, cpus_per_worker=packing.cpus_per_worker,
                          gpus_per_worker=packing.gpus_per_worker)


def test_shipped_profile_packs_two_trials_on_one_24gb_gpu() -> None:
    profile = load_profile(SHIPPED)
    packing = choose_packing(profile, gpus_visible=1)
    assert (packing.workers, packing.gpus_per_worker, packing.cpus_per_trial) == (1, 0.5, 4.0)
    # Its overrides are real config keys with valid values.
    assert load_config(None, list(packing.overrides)).data.num_workers == 3
    space = with_budget(load_space("simclr_temp"), max_concurrent=8)
    # A 16-thread workstation with one GPU: the GPU is the limit (2 trials), not the CPUs (4).
    assert concurrent_trials(space, _resources(packing), cpus=16, gpus=1) == 2
    # Six CPUs: 4 per trial leave room for one only.
    assert concurrent_trials(space, _resources(packing), cpus=6, gpus=1) == 1


def test_shipped_profile_without_gpu_runs_one_cpu_per_trial() -> None:
    packing = choose_packing(load_profile(SHIPPED), gpus_visible=0)
    assert (packing.workers, packing.gpus_per_worker, packing.cpus_per_trial, packing.overrides) == (1, 0.0, 1.0, ())
    space = load_space("simclr_temp")  # max_concurrent 2: the default search on 2 cores
    assert concurrent_trials(space, _resources(packing), cpus=2, gpus=0) == 2


def test_flags_override_the_profile_and_split_per_worker() -> None:
    profile = load_profile(SHIPPED)
    packing = choose_packing(profile, gpus_visible=4, gpus_per_trial=2, cpus_per_trial=8, workers_per_trial=2)
    assert (packing.workers, packing.gpus_per_worker, packing.cpus_per_worker) == (2, 1.0, 4.0)
    one_gpu_each = choose_packing(profile, gpus_visible=4, gpus_per_trial=1)
    assert one_gpu_each.gpus_per_worker == 1.0 and one_gpu_each.cpus_per_trial == 4.0
    with pytest.raises(ProfileError, match="whole GPUs each.*--gpus-per-trial 2"):
        choose_packing(profile, gpus_visible=1, gpus_per_trial=1, workers_per_trial=2)
    with pytest.raises(ProfileError, match="--workers-per-trial must be >= 1"):
        choose_packing(profile, gpus_visible=0, workers_per_trial=0)


def test_smaller_card_than_the_profile_warns() -> None:
    profile = load_profile(SHIPPED)
    packing = choose_packing(profile, gpus_visible=1)
    assert "sized for a 24 GB GPU" in gpu_memory_warning(profile, packing, card_memory_gb=8.0)
    assert gpu_memory_warning(profile, packing, card_memory_gb=24.0) is None


@pytest.mark.parametrize("text, message", [
    ("gpu: {cpus_per_trial: 4}\ncpu: {cpus_per_trial: 0}\nworkers_per_trial: 1", "'cpus_per_trial' must be"),
    ("gpu: {cpus_per_trial: 4, trials_per_gpu: 0.5}\ncpu: {cpus_per_trial: 1}\nworkers_per_trial: 1",
     "'trials_per_gpu' must be an integer >= 1"),
    ("gpu: {cpus_per_trial: 4, gpus: 1}\ncpu: {cpus_per_trial: 1}\nworkers_per_trial: 1", r"unknown key\(s\) \['gpus'\]"),
    ("gpu: {cpus_per_trial: 4, overrides: [data.batch_size]}\ncpu: {cpus_per_trial: 1}\nworkers_per_trial: 1",
     "override 'data.batch_size'"),
    ("cpu: {cpus_per_trial: 1}\nworkers_per_trial: 1", "section 'gpu' must be a mapping"),
    ("gpu: {cpus_per_trial: 4}\ncpu: {cpus_per_trial: 1}\nworkers_per_trial: true", "'workers_per_trial' must be"),
    ("- a list", "must be a mapping"),
    ("gpu: [unclosed", "not valid YAML"),
])
def test_malformed_profiles_are_refused_naming_the_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message) as err:
        load_profile(path)
    assert str(path) in str(err.value)


def test_launch_dry_run_uses_the_profile(tmp_path, data_cache, birdsong_root) -> None:
    profile = tmp_path / "two_cpus.yaml"
    profile.write_text("name: two-cpus\ngpu: {cpus_per_trial: 4}\ncpu: {cpus_per_trial: 2}\nworkers_per_trial: 1\n")
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache))
    out = subprocess.run([sys.executable, "launch.py", "--dry-run", "--profile", str(profile), "--storage",
                          str(tmp_path / "runs"), "--concurrent", "8"], cwd=REPO, env=env, text=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    expected = min(8, (os.cpu_count() or 1) // 2)
    assert "profile two-cpus" in out.stdout
    assert f"1 worker(s) x (2 CPU, 0 GPU); {expected} trial(s) at once" in out.stdout


def test_train_reports_are_polled_fast_for_gpu_trials_and_every_2_s_on_cpus(monkeypatch) -> None:
    # A report waits for the poll once one is unread: GPU epochs (~1 s) need the fast poll.
    assert report_poll_seconds(TrialResources(workers=1, cpus_per_worker=4, gpus_per_worker=1)) == 0.5
    assert report_poll_seconds(TrialResources(workers=2, cpus_per_worker=4, gpus_per_worker=0.5)) == 0.5
    assert report_poll_seconds(TrialResources(workers=1, cpus_per_worker=2, gpus_per_worker=0)) == 2.0
    monkeypatch.delenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", raising=False)
    _pace_train_reports(0.5)
    assert os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "0.5"
    monkeypatch.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "7")  # the user's own setting wins
    _pace_train_reports(2.0)
    assert os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "7"


def test_a_single_worker_trial_holds_its_own_resources_and_a_ddp_trial_only_a_driver() -> None:
    # One worker trains inside the Tune trial, so the trial holds its CPUs and GPU (any node);
    # a DDP trial's Train workers hold them, the trial only the head's trial_driver.
    single = TrialResources(workers=1, cpus_per_worker=4, gpus_per_worker=0.5)
    assert single.direct
    assert single.trial_resources().bundles == [{"CPU": 4, "GPU": 0.5}]
    assert TrialResources(workers=1, cpus_per_worker=2).trial_resources().bundles == [{"CPU": 2}]
    ddp = TrialResources(workers=2, cpus_per_worker=4, gpus_per_worker=1)
    assert not ddp.direct
    assert ddp.trial_resources().bundles == [{"trial_driver": 1}]
    assert ddp.scaling_config().num_workers == 2
