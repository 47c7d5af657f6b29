"""The experiment plan: runs shared by tables are trained once, and each step gets exactly what it reads."""

import pytest

from sgm_mlc.config import coerce_command_line_strings, deep_merge, read_params_file, validate_params
from sgm_mlc.experiment.plan import DEFAULT_VARIANT, Run, evaluate_sections, experiment_plan, train_sections


@pytest.fixture
def small_params(params):
    params["run"].update(datasets=["synthetic"], models=["br", "cc", "br_neural", "sgm"], order="frequency",
                         seeds=[13, 14])
    params["experiments"]["ablations"] = {
        "model": "sgm",
        "variants": {"no_self_attention": {"self_attention": False}, "loss_sequence": {"loss": "sequence"}},
    }
    params["experiments"]["label_orders"] = {"models": ["sgm", "cc"], "orders": ["frequency", "rare_first"]}
    params["experiments"]["cross_dataset"] = []
    params["models"]["sgm"]["loss"] = "sequence"
    params["tuning"]["enabled"] = False  # tuned rows: tests/unit/test_tuning.py
    return params


def test_tables_share_runs_and_nothing_is_trained_twice(small_params):
    plan = experiment_plan(small_params)
    tables = plan.tables["synthetic"]
    sgm = [Run("synthetic", "sgm", DEFAULT_VARIANT, "frequency", seed) for seed in (13, 14)]
    assert tables.main["sgm"] == sgm
    assert tables.ablations[DEFAULT_VARIANT] == sgm
    # A variant whose switches equal the model's settings is the default run, not a second training.
    assert tables.ablations["loss_sequence"] == sgm
    assert tables.orders["sgm"]["frequency"] == sgm
    assert tables.ablations["no_self_attention"][0].variant == "no_self_attention"
    assert len(plan.runs) == len(set(plan.runs))
    # sgm: 2 seeds x (default, no_self_attention, rare_first); br_neural: 2 seeds; br, cc: deterministic, 1 seed
    # each (cc in 2 orders).
    assert len(plan.runs) == 6 + 2 + 1 + 2
    assert plan.label_orders == ["frequency", "rare_first"]


def test_a_study_set_to_null_is_not_run(small_params):
    small_params["experiments"]["ablations"] = None
    small_params["experiments"]["label_orders"] = None
    validate_params(small_params, source="test")
    plan = experiment_plan(small_params)
    tables = plan.tables["synthetic"]
    assert tables.ablations == {} and tables.orders == {}
    assert plan.runs == sorted(run for runs in tables.main.values() for run in runs)
    assert plan.label_orders == ["frequency"]
    with pytest.raises(ValueError, match="unknown variant 'no_self_attention' of model 'sgm'; no ablation study"):
        train_sections(small_params, Run("synthetic", "sgm", "no_self_attention", "frequency", 13))


def test_deterministic_models_are_trained_with_the_first_seed_only(small_params):
    tables = experiment_plan(small_params).tables["synthetic"]
    assert [run.seed for run in tables.main["br"]] == [13]
    assert [run.seed for run in tables.main["br_neural"]] == [13, 14]


def test_order_independent_models_use_the_main_order(small_params):
    small_params["experiments"]["label_orders"]["models"] = ["sgm"]
    small_params["run"]["order"] = "rare_first"
    plan = experiment_plan(small_params)
    assert {run.order for run in plan.runs if run.model in ("br", "br_neural")} == {"rare_first"}


def test_train_step_reads_no_decoding_and_linear_models_no_training_recipe(small_params):
    sgm = Run("synthetic", "sgm", DEFAULT_VARIANT, "frequency", 13)
    assert set(train_sections(small_params, sgm)) == {"models", "training"}
    assert "set_threshold" not in train_sections(small_params, sgm)["training"]
    assert set(train_sections(small_params, Run("synthetic", "br", DEFAULT_VARIANT, "frequency", 13))) == {"models"}
    # Set models select their best epoch with the threshold, so it is part of their training.
    br_neural = Run("synthetic", "br_neural", DEFAULT_VARIANT, "frequency", 13)
    assert "set_threshold" in train_sections(small_params, br_neural)["training"]
    assert evaluate_sections(small_params, sgm)["decoding"] == small_params["decoding"]
    assert "decoding" not in evaluate_sections(small_params, br_neural)


def test_an_evaluation_setting_changes_no_train_step(small_params):
    plan = experiment_plan(small_params)
    before = {run: train_sections(small_params, run) for run in plan.runs}
    small_params["decoding"]["beam_size"] = 3
    small_params["training"]["set_threshold"] = 0.4
    changed = [run for run in plan.runs if train_sections(small_params, run) != before[run]]
    assert {run.model for run in changed} == {"br_neural"}


def test_variant_switches_and_dataset_overrides_are_merged(small_params):
    small_params["overrides"]["synthetic"] = {"models": {"sgm": {"hidden_size": 64}}}
    run = Run("synthetic", "sgm", "no_self_attention", "frequency", 13)
    settings = train_sections(small_params, run)["models"]["sgm"]
    assert settings["self_attention"] is False
    assert settings["hidden_size"] == 64


def test_unknown_variant_names_the_known_ones(small_params):
    with pytest.raises(ValueError, match="variants of sgm: loss_sequence, no_self_attention"):
        train_sections(small_params, Run("synthetic", "sgm", "no_global", "frequency", 13))


def test_command_line_strings_get_their_types(params):
    # Snakemake reads --config 'run={seeds: [14]}' with YAML's base loader: every scalar is a string.
    params["run"]["seeds"] = ["14", "15"]
    params["training"]["learning_rate"] = "1.0e-3"
    params["decoding"]["beam_size"] = "3"
    params["tracking"]["experiment"] = "123"
    coerce_command_line_strings(params)
    validate_params(params)
    assert params["run"]["seeds"] == [14, 15]
    assert params["training"]["learning_rate"] == 1.0e-3
    assert params["decoding"]["beam_size"] == 3
    assert params["tracking"]["experiment"] == "123"


def test_models_that_read_words_are_left_out_of_image_datasets_and_said_so(small_params):
    small_params["run"]["datasets"] = ["coco2017"]
    small_params["run"]["models"] = ["br", "cnn", "br_neural", "sgm"]
    small_params["experiments"]["cross_dataset"] = [{"train": "coco2017", "test": "voc2007", "models": ["sgm", "br"]}]
    plan = experiment_plan(small_params)
    table = plan.tables["coco2017"]
    assert list(table.main) == ["br_neural", "sgm"] and list(table.orders) == ["sgm"]
    assert list(table.cross["voc2007"]) == ["sgm"]
    assert table.skipped == {model: "reads words; not run on an image dataset" for model in ("br", "cc", "cnn")}
    assert {run.model for run in plan.runs} == {"br_neural", "sgm"}
    assert plan.evaluation_only_datasets == ["voc2007"]


def with_experiment_files(params, project_root, *names):
    """``params`` with the experiment files merged over it in turn, as ``--configfile`` merges them."""
    for name in names:
        params = deep_merge(params, read_params_file(project_root / "experiments" / name))
    validate_params(params, source=" + ".join(names))
    return params


def test_the_paper_file_runs_its_three_datasets_and_the_image_pair(params, project_root):
    paper = with_experiment_files(params, project_root, "paper.yaml")
    plan = experiment_plan(paper)
    assert list(plan.tables) == ["reuters21578", "coco2017", "yelp"]
    coco = plan.tables["coco2017"]
    assert set(coco.skipped) == {"br", "lp", "cc", "cnn"} and list(coco.orders) == ["sgm"]
    assert set(coco.cross["voc2007"]) == {"sgm", "seq2seq", "br_neural"}
    assert plan.evaluation_only_datasets == ["voc2007"]
    assert paper["image_features"]["augment_views"] == 1 and paper["image_features"]["weights"] == "imagenet"
    # One dataset at a time (--config 'run={datasets: [reuters21578]}'): the image pair goes with COCO.
    reuters = experiment_plan(deep_merge(paper, {"run": {"datasets": ["reuters21578"]}}))
    assert reuters.datasets == ["reuters21578"] and reuters.cross_runs == []


def test_the_main_table_file_drops_the_studies_of_every_dataset(params, project_root):
    tables = experiment_plan(with_experiment_files(params, project_root, "paper.yaml", "main_table_only.yaml")).tables
    assert len(tables) == 3 and all(not table.ablations and not table.orders for table in tables.values())


def test_the_reduced_studies_file_runs_reuters_once_per_run(params, project_root):
    plan = experiment_plan(with_experiment_files(params, project_root, "paper.yaml", "reuters_studies_reduced.yaml"))
    assert list(plan.tables) == ["reuters21578"] and {run.seed for run in plan.runs} == {13}
    assert len(plan.tables["reuters21578"].ablations) == 10 and set(plan.tables["reuters21578"].orders) == {"sgm", "cc"}
