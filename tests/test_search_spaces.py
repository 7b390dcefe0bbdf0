"""Search spaces: every shipped YAML loads and gives valid configs; malformed ones are refused.

References written here, not taken from the loader: the list of spaces the issue asks for,
the method registry for the ``methods`` space, and the budget arithmetic of ``simclr_temp``
as a formula. Sampling the distributions: test_search_space_sampling.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from search_spaces import (
    SearchSpace,
    SearchSpaceError,
    grace_for_epochs,
    list_spaces,
    load_space,
    resolve_config,
    sample_params,
    shipped_names,
    with_budget,
)
from search_spaces.loader import _read_yaml
from search_spaces.resolve import resolve_base_config
from ssl_core.config import Config
from tests.space_cases import set_key, valid_space, write

REPO = Path(__file__).resolve().parents[1]

SPACES_DIR = Path(__file__).resolve().parents[1] / "search_spaces"
REQUIRED_SPACES = {"simclr_temp", "simclr", "supcon", "byol", "simsiam", "moco", "dino", "barlow", "vicreg",
                   "audio_augment", "image_augment", "methods", "embedding_size", "birdclef"}
BIRDSONG_TRAIN_RECORDINGS = 314  # 70 % of birdsong's 452 recordings, split by recording (README)

_LOADED: dict[str, SearchSpace] = {}


def loaded(name: str) -> SearchSpace:
    """Each shipped space is loaded (and validated) once per test session."""
    if name not in _LOADED:
        _LOADED[name] = load_space(name)
    return _LOADED[name]


def field(cfg: Config, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)


# ---------------------------------------------------------------------- shipped spaces


def test_the_spaces_the_issue_asks_for_are_shipped() -> None:
    on_disk = {p.stem for p in SPACES_DIR.glob("*.yaml")}
    assert REQUIRED_SPACES <= on_disk
    assert set(shipped_names()) == on_disk


def test_list_spaces_lists_every_file_with_a_one_line_description() -> None:
    listed = list_spaces()
    assert [name for name, _ in listed] == sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))
    for name, description in listed:
        assert description.strip() and "\n" not in description, name


@pytest.mark.parametrize("name", sorted(REQUIRED_SPACES))
def test_shipped_space_loads_with_knn_objective_budget_and_scheduler(name: str) -> None:
    space = loaded(name)
    assert space.name == name and space.path == SPACES_DIR / f"{name}.yaml"
    assert (space.metric, space.mode) == ("knn_top1", "max")
    assert space.trials >= 1 and space.epochs >= 1 and 1 <= space.max_concurrent <= space.trials
    assert space.scheduler["name"] in ("asha", "none")
    if space.scheduler["name"] == "asha":
        assert 1 <= space.scheduler["grace_period"] < space.epochs
        assert space.scheduler["reduction_factor"] >= 2
    raw = yaml.safe_load(space.path.read_text())
    assert raw["description"] == space.description
    assert set(space.params) == set(raw["params"])


@pytest.mark.parametrize("name", sorted(REQUIRED_SPACES))
def test_twenty_sampled_configs_validate_and_carry_the_sample(name: str) -> None:
    space = loaded(name)
    rng = np.random.default_rng(123)
    for _ in range(20):
        params = sample_params(space, rng)
        cfg = resolve_config(space, params)
        assert cfg.train.epochs == space.epochs
        for key, value in params.items():
            assert field(cfg, key) == value, key
        for section, values in space.base.items():
            for key, value in values.items():
                got = field(cfg, f"{section}.{key}")
                assert got == pytest.approx(value) if isinstance(value, float) else got == value


@pytest.mark.parametrize("name", sorted(REQUIRED_SPACES - {"birdclef", "image_augment"}))
def test_birdsong_batch_sizes_fit_the_train_split(name: str) -> None:
    space = loaded(name)
    cfg = resolve_config(space, sample_params(space, np.random.default_rng(0)))
    assert cfg.data.dataset == "birdsong"
    batches = space.params["data.batch_size"].probe_values() if "data.batch_size" in space.params \
        else (cfg.data.batch_size,)
    assert max(batches) <= BIRDSONG_TRAIN_RECORDINGS


def test_simclr_temp_is_the_default_search_with_a_budget_that_can_beat_fixed_features() -> None:
    from ssl_core.budget import training_budget

    space = loaded("simclr_temp")
    assert list(space.params) == ["method.temperature"]
    temp = space.params["method.temperature"]
    assert temp.kind == "loguniform" and temp.low == pytest.approx(0.03) and temp.high == pytest.approx(1.0)
    cfg = resolve_config(space, {"method.temperature": 0.1})
    assert (cfg.method.name, cfg.data.dataset, cfg.model.backbone) == ("simclr", "birdsong", "resnet10t")
    # 36 optimiser steps a trial: at 24 (one window an epoch) the search's best did not separate
    # from the fixed features on test; from 36 on SimCLR did (simclr_temp.yaml has the numbers).
    budget = training_budget(cfg, BIRDSONG_TRAIN_RECORDINGS)
    assert (budget.steps_per_epoch, budget.steps) == (9, 36)
    assert cfg.data.eval_windows == "mean"  # scored as the fixed features see the data: whole recordings
    # No rung: with 4 short trials it would save little and cost an evaluation each.
    assert space.scheduler == {"name": "none"}
    # One evaluation a trial, at the end (each costs ~3 steps); none before training.
    evaluated = [e for e in range(1, space.epochs + 1) if e % cfg.eval.every_epochs == 0 or e == space.epochs]
    assert evaluated == [space.epochs] and not cfg.eval.before_training
    # The base config is the search's first trial, so the confirmation can count it as its first seed.
    assert space.evaluate_first == ({"method.temperature": Config().method.temperature},)
    assert resolve_config(space, dict(space.evaluate_first[0])).to_dict() == resolve_base_config(space).to_dict()
    # The confirmation: the winner, the base config and the supervised reference over 2 seeds, as
    # long as a trial (6 runs at most; the search's own runs of the first two are their first seeds).
    assert (space.confirm.top, space.confirm.seeds, space.confirm_epochs, space.confirm_runs()) == (1, 2, 4, 6)


def test_methods_space_covers_the_registry_on_one_budget() -> None:
    from ssl_core.methods import METHODS

    space = loaded("methods")
    assert list(space.params) == ["method.name"]
    assert set(space.params["method.name"].choices) == set(METHODS)
    assert len(space.params["method.name"].choices) == 9
    assert space.scheduler == {"name": "none"}
    configs = [resolve_config(space, {"method.name": name}) for name in METHODS]
    shared = {(c.train.epochs, c.data.batch_size, c.model.backbone, c.optim.lr, c.data.dataset) for c in configs}
    assert len(shared) == 1


def test_image_augment_is_on_digits_without_flips() -> None:
    space = loaded("image_augment")
    assert "augment.flip_p" not in space.params
    for params in (sample_params(space, np.random.default_rng(s)) for s in range(5)):
        cfg = resolve_config(space, params)
        assert (cfg.data.dataset, cfg.augment.flip_p) == ("digits", 0.0)


def test_moco_queue_choices_are_multiples_of_every_batch_choice() -> None:
    space = loaded("moco")
    for queue in space.params["method.queue_size"].choices:
        for batch in space.params["data.batch_size"].choices:
            assert queue % batch == 0


def test_embedding_size_space_searches_the_sizes_asked_for() -> None:
    space = loaded("embedding_size")
    assert space.params["model.embedding_dim"].choices == (32, 64, 128, 256, 512)
    assert "model.proj_hidden_dim" in space.params


def test_birdclef_preset_matches_the_real_data_and_takes_a_data_override() -> None:
    space = loaded("birdclef")
    params = sample_params(space, np.random.default_rng(0))
    cfg = resolve_config(space, params, ["data.dataset=/data/birdclef-2025"])
    assert cfg.data.dataset == "/data/birdclef-2025"
    assert (cfg.data.sample_rate, cfg.data.crop_seconds, cfg.frontend.n_mels) == (32000, 5.0, 128)
    assert cfg.frontend.f_max == 16000 == cfg.data.sample_rate / 2
    assert (cfg.model.backbone, cfg.data.batch_size) == ("resnet18", 256)
    assert space.epochs >= 10 and space.scheduler["name"] == "asha"
    assert resolve_config(space, params).data.dataset == "/path/to/birdclef"  # the placeholder validates


# ---------------------------------------------------------------------- malformed user spaces


P = ["params"]
MALFORMED = [
    ("unknown top-level key", set_key(valid_space(), ["paramz"], {}), r"'paramz'.*allowed keys: description, base"),
    ("unknown config key in params", set_key(valid_space(), P + ["method.temprature"], {"uniform": [0.1, 0.2]}),
     r"params\.method\.temprature: unknown config key 'method\.temprature'"),
    ("unknown config key in base", set_key(valid_space(), ["base", "method", "temprature"], 0.1),
     r"base: unknown config key 'method\.temprature'"),
    ("unknown section", set_key(valid_space(), P + ["methd.temperature"], {"uniform": [0.1, 0.2]}),
     r"params\.methd\.temperature: unknown config section 'methd'"),
    ("bad distribution kind", set_key(valid_space(), P + ["method.temperature"], {"gaussian": [0.1, 0.2]}),
     r"params\.method\.temperature: unknown distribution 'gaussian'"),
    ("low >= high", set_key(valid_space(), P + ["method.temperature"], {"uniform": [0.5, 0.1]}),
     r"params\.method\.temperature: uniform needs low < high"),
    ("negative temperature range", set_key(valid_space(), P + ["method.temperature"], {"uniform": [-0.1, 0.5]}),
     r"params\.method\.temperature: .*low bound -0\.1 gives an invalid config.*method\.temperature=-0\.1"),
    ("temperature range reaching 0", set_key(valid_space(), P + ["method.temperature"], {"uniform": [0.0, 0.5]}),
     r"params\.method\.temperature: .*low bound 0 gives an invalid config"),
    ("loguniform with 0", set_key(valid_space(), P + ["method.temperature"], {"loguniform": [0, 0.5]}),
     r"params\.method\.temperature: loguniform needs low > 0"),
    ("empty choice", set_key(valid_space(), P + ["data.batch_size"], {"choice": []}),
     r"params\.data\.batch_size: choice needs a non-empty list"),
    ("wrong arity", set_key(valid_space(), P + ["method.temperature"], {"uniform": [0.1]}),
     r"params\.method\.temperature: uniform takes \[low, high\]"),
    ("q <= 0", set_key(valid_space(), P + ["method.temperature"], {"quniform": [0.1, 0.5, 0]}),
     r"params\.method\.temperature: quniform needs a step q > 0"),
    ("bounds not multiples of q", set_key(valid_space(), P + ["method.temperature"], {"quniform": [0.15, 0.5, 0.1]}),
     r"params\.method\.temperature: quniform low=0\.15 is not a multiple of q=0\.1"),
    ("not a distribution", set_key(valid_space(), P + ["method.temperature"], 0.1),
     r"params\.method\.temperature: a distribution is a one-key mapping"),
    ("fractions for an integer field", set_key(valid_space(), P + ["data.batch_size"], {"uniform": [16, 64]}),
     r"params\.data\.batch_size: data\.batch_size is an integer field"),
    ("invalid choice", set_key(valid_space(), P + ["data.batch_size"], {"choice": [32, 1]}),
     r"params\.data\.batch_size: choice\(32, 1\): its choice 1 gives an invalid config"),
    ("range past a limit set by another field", set_key(valid_space(), P + ["augment.freq_mask_bins"], {"int": [0, 70]}),
     r"params\.augment\.freq_mask_bins: int\[0, 70\]: its high bound 70 .*frontend\.n_mels=64"),
    ("a range whose ends are valid but not its inside",
     set_key(set_key(valid_space(), ["base", "method", "name"], "moco"), P + ["method.queue_size"], {"int": [4096, 4160]}),
     r"params\.method\.queue_size=\d+ gives an invalid config.*multiple of data\.batch_size"),
    ("bad metric", set_key(valid_space(), ["objective", "metric"], "accuracy"),
     r"objective\.metric='accuracy' is not a metric; use one of knn_top1"),
    ("metric in the wrong direction", set_key(valid_space(), ["objective", "mode"], "min"),
     r"objective\.mode=min would search for the worst knn_top1"),
    ("metric not reported at every evaluation", set_key(valid_space(), ["objective", "metric"], "linear_top1"),
     r"eval\.linear_probe"),
    ("grace_period > epochs", set_key(valid_space(), ["scheduler", "grace_period"], 5),
     r"scheduler\.grace_period=5 exceeds budget\.epochs=3"),
    ("unknown scheduler", set_key(valid_space(), ["scheduler"], {"name": "hyperband"}), r"scheduler\.name='hyperband'"),
    ("budget below 1", set_key(valid_space(), ["budget", "trials"], 0), r"budget\.trials=0 is invalid"),
    ("param duplicated in base", set_key(valid_space(), ["base", "method", "temperature"], 0.1),
     r"params\.method\.temperature is also set in base"),
    ("epochs in base", set_key(valid_space(), ["base", "train"], {"epochs": 50}),
     r"base\.train\.epochs: .*budget\.epochs"),
    ("two-line description", set_key(valid_space(), ["description"], "one\ntwo"), r"description must be one"),
    ("missing budget", {k: v for k, v in valid_space().items() if k != "budget"}, r"missing top-level key 'budget'"),
    ("not a mapping", [1, 2, 3], r"a search space file is a mapping"),
    ("evaluate_first not a list", set_key(valid_space(), ["evaluate_first"], {"method.temperature": 0.1}),
     r"evaluate_first must be a list of mappings"),
    ("evaluate_first sets a param the space does not search",
     set_key(valid_space(), ["evaluate_first"], [{"optim.lr": 0.001}]),
     r"evaluate_first\[0\] sets 'optim\.lr', which this space does not search; use one of method\.temperature"),
    ("evaluate_first value outside its range",
     set_key(valid_space(), ["evaluate_first"], [{"method.temperature": 0.9, "data.batch_size": 32}]),
     r"evaluate_first\[0\]: method\.temperature=0\.9 is outside its distribution loguniform\(0\.05, 0\.5\)"),
    ("evaluate_first value not a choice",
     set_key(valid_space(), ["evaluate_first"], [{"method.temperature": 0.1, "data.batch_size": 48}]),
     r"evaluate_first\[0\]: data\.batch_size=48 is outside its distribution choice\(32, 64\)"),
    ("evaluate_first point leaving a param out", set_key(valid_space(), ["evaluate_first"], [{"data.batch_size": 32}]),
     r"evaluate_first\[0\] leaves out method\.temperature; each configuration sets every searched param"),
    ("evaluate_first longer than the budget",
     set_key(valid_space(), ["evaluate_first"], [{"data.batch_size": 32}] * 5),
     r"evaluate_first lists 5 configurations but the budget runs 4 trials"),
]


@pytest.mark.parametrize("raw, match", [(raw, match) for _, raw, match in MALFORMED],
                         ids=[case for case, _, _ in MALFORMED])
def test_malformed_space_is_refused_naming_file_and_key(tmp_path: Path, raw: Any, match: str) -> None:
    path = write(tmp_path, raw)
    with pytest.raises(SearchSpaceError, match=match) as info:
        load_space(str(path))
    assert str(path) in str(info.value)


def test_the_valid_user_space_loads(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, valid_space(), "mine.yml"))
    assert space.name == "mine" and list(space.params) == ["method.temperature", "data.batch_size"]


def test_evaluate_first_points_load_print_and_survive_the_space_s_round_trip(tmp_path: Path) -> None:
    raw = set_key(valid_space(), ["evaluate_first"], [{"method.temperature": 0.1, "data.batch_size": 64},
                                                      {"data.batch_size": 32, "method.temperature": 0.5}])
    space = load_space(write(tmp_path, raw))
    assert space.evaluate_first == ({"method.temperature": 0.1, "data.batch_size": 64},
                                   {"data.batch_size": 32, "method.temperature": 0.5})
    assert "evaluate first: method.temperature=0.1, data.batch_size=64" in space.describe()
    again = load_space(write(tmp_path, space.to_dict(), "again.yaml"))
    assert again.evaluate_first == space.evaluate_first


def test_invalid_yaml_is_a_search_space_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("params: {method.temperature: [unclosed\n")
    with pytest.raises(SearchSpaceError, match="not valid YAML"):
        load_space(path)


def test_unknown_name_lists_shipped_spaces_and_missing_path_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown search space 'simclr_tmep'.*simclr_temp"):
        load_space("simclr_tmep")
    with pytest.raises(FileNotFoundError):
        load_space(str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError):
        load_space(str(tmp_path / "sub" / "nope"))


def test_yaml_without_a_dot_in_the_exponent_is_read_as_a_number(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML) reads 1e-3 as the string "1e-3"; bounds accept it as the number it means.
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(valid_space()).replace("params:", "params:\n  optim.lr: {loguniform: [1e-4, 1e-2]}", 1))
    dist = load_space(path).params["optim.lr"]
    assert (dist.low, dist.high) == (1e-4, 1e-2)


def test_a_choice_written_with_bare_exponents_is_a_choice_of_numbers(tmp_path: Path) -> None:
    # Under YAML 1.1 (PyYAML's default) 1e-5 was the string "1e-5"; a quoted value stays text.
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(valid_space()).replace(
        "params:", "params:\n  optim.weight_decay: {choice: [1e-5, 1.0e-4, 0]}", 1))
    params = load_space(path).params
    assert params["optim.weight_decay"].choices == (1e-5, 1e-4, 0)
    assert all(isinstance(v, (int, float)) for v in params["optim.weight_decay"].choices)
    text = tmp_path / "quoted.yaml"
    text.write_text("a: '1e5'\nb: -2E+3\nc: 1_000e2\nd: e5\n")
    assert _read_yaml(text) == {"a": "1e5", "b": -2000.0, "c": 100000.0, "d": "e5"}
    # And a number past the loader's finite-number limit is now refused, not passed on as text.
    path.write_text(yaml.safe_dump(valid_space()).replace("params:", "params:\n  optim.lr: {choice: [1e30]}", 1))
    with pytest.raises(SearchSpaceError, match=r"choice values must be finite numbers \(\|x\| <= 2\*\*53\), got 1e\+30"):
        load_space(path)


# ---------------------------------------------------------------------- resolve_config and budgets


def test_overrides_apply_but_may_not_hide_a_searched_param_or_the_epochs() -> None:
    space = loaded("simclr_temp")
    cfg = resolve_config(space, {"method.temperature": 0.2}, ["data.batch_size=32", "augment.mix_p=0"])
    assert (cfg.data.batch_size, cfg.augment.mix_p, cfg.method.temperature) == (32, 0.0, 0.2)
    with pytest.raises(SearchSpaceError, match="method.temperature"):
        resolve_config(space, {"method.temperature": 0.2}, ["method.temperature=0.5"])
    with pytest.raises(SearchSpaceError, match="budget.epochs"):
        resolve_config(space, {"method.temperature": 0.2}, ["train.epochs=50"])
    with pytest.raises(SearchSpaceError, match="unknown config key 'data.batchsize'"):
        resolve_config(space, {"method.temperature": 0.2}, ["data.batchsize=32"])
    with pytest.raises(SearchSpaceError, match="missing: method.temperature"):
        resolve_config(space, {})
    with pytest.raises(SearchSpaceError, match=r"method\.temperature=-1 gives an invalid config"):
        resolve_config(space, {"method.temperature": -1.0})


def test_numpy_scalars_from_a_searcher_are_accepted() -> None:
    space = loaded("simclr")
    params = sample_params(space, np.random.default_rng(5))
    as_numpy = {k: (np.int64(v) if isinstance(v, int) else np.float64(v)) for k, v in params.items()}
    assert resolve_config(space, as_numpy).data.batch_size == params["data.batch_size"]


def test_with_budget_changes_epochs_and_checks_the_grace_period() -> None:
    space = loaded("simclr_temp")
    longer = with_budget(space, epochs=12, trials=3)
    assert (longer.epochs, longer.trials, longer.max_concurrent) == (12, 3, space.max_concurrent)
    assert resolve_config(longer, {"method.temperature": 0.1}).train.epochs == 12
    asha = loaded("simclr")  # ASHA, grace 2
    with pytest.raises(SearchSpaceError, match="grace_period=2 exceeds budget.epochs=1"):
        with_budget(asha, epochs=1)
    assert with_budget(asha, epochs=1, grace_period=1).scheduler["grace_period"] == 1
    # The default search has no ASHA: no grace period to set, but a whole scheduler can be given
    # (the replay bench does), checked like the file's own.
    with pytest.raises(SearchSpaceError, match="has no ASHA scheduler"):
        with_budget(space, grace_period=1)
    replayed = with_budget(space, epochs=6, scheduler={"name": "asha", "grace_period": 5, "reduction_factor": 2})
    assert replayed.scheduler == {"name": "asha", "grace_period": 5, "reduction_factor": 2}
    with pytest.raises(SearchSpaceError, match="grace_period=5 exceeds budget.epochs=4"):
        with_budget(space, scheduler={"name": "asha", "grace_period": 5, "reduction_factor": 2})


@pytest.mark.parametrize("name", ["simclr", "dino", "birdclef"])
def test_to_dict_round_trips_through_yaml(tmp_path: Path, name: str) -> None:
    space = loaded(name)
    again = load_space(write(tmp_path, space.to_dict(), f"{name}.yaml"))
    assert again.params == space.params and again.base == space.base
    assert (again.budget, again.scheduler, again.metric, again.mode) == \
        (space.budget, space.scheduler, space.metric, space.mode)


@pytest.mark.parametrize("epochs, expected", [(None, None), (12, None), (6, None), (5, 4), (3, 2), (2, 1), (1, 1)])
def test_grace_period_keeps_its_share_when_epochs_leave_no_room(epochs, expected) -> None:
    space = with_budget(loaded("simclr_temp"), epochs=6,  # ASHA grace 5 of 6 epochs
                        scheduler={"name": "asha", "grace_period": 5, "reduction_factor": 2})
    assert grace_for_epochs(space, epochs) == expected
    if expected is not None:  # the one grace_for_epochs gives always passes the budget check
        assert with_budget(space, epochs=epochs, grace_period=expected).scheduler["grace_period"] == expected
        assert expected == 1 or expected < epochs
    assert grace_for_epochs(with_budget(space, grace_period=2), 3) is None  # fits: the space's own stays


def test_launch_with_few_epochs_lowers_the_grace_period_and_says_so() -> None:
    done = subprocess.run([sys.executable, "launch.py", "--space", "simclr", "--epochs", "2", "--dry-run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # simclr: ASHA grace 2 of 10 epochs; 2 leave no room
    assert "grace period 1 for this search" in done.stdout
    assert "ASHA, grace 1 epochs" in done.stdout
