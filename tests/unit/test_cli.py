import json

import yaml

from sgm_mlc.cli import main


def test_validate_params_accepts_the_project_file(project_root, capsys, monkeypatch):
    monkeypatch.chdir(project_root)
    assert main(["validate-params"]) == 0
    assert "params.yaml: valid" in capsys.readouterr().out


def test_invalid_params_file_exits_2_naming_key(tmp_path, params, caplog):
    params["experiments"]["label_orders"]["orders"] = ["frequency", "length"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["validate-params", "--params", str(tmp_path / "params.yaml")]) == 2
    assert "experiments.label_orders.orders.1: 'length' is not allowed; allowed values: 'frequency'" in caplog.text


def test_step_config_is_validated_and_must_hold_the_section(tmp_path, params, caplog):
    bad = json.dumps({"embeddings": dict(params["embeddings"], epochs=0)})
    assert main(["build-embeddings", "--processed", str(tmp_path), "--out", str(tmp_path), "--config", bad]) == 2
    assert "embeddings.epochs: 0 is less than the minimum of 1" in caplog.text
    missing = json.dumps({"preprocess": params["preprocess"]})
    assert main(["build-label-order", "--processed", str(tmp_path), "--order", "natural", "--out", str(tmp_path), "--config", missing]) == 2
    assert "params lack label_orders, which this step reads" in caplog.text
    assert main(["download", "--dataset", "reuters", "--out", str(tmp_path / "raw"), "--params", "params.yaml"]) == 2
    assert (
        "params lack datasets.reuters, which this step reads; known: coco2017, reuters21578, synthetic, "
        "synthetic_shift, voc2007, yelp" in caplog.text
    )


def test_download_then_preprocess_synthetic_from_the_command_line(tmp_path, params):
    params["datasets"]["synthetic"].update(n_documents=120, vocabulary_size=300)
    config = json.dumps({"datasets": {"synthetic": params["datasets"]["synthetic"]}, "preprocess": params["preprocess"],
                         "downloads": params["downloads"]})
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    assert main(["download", "--dataset", "synthetic", "--out", str(raw), "--config", config]) == 0
    assert main(["preprocess", "--dataset", "synthetic", "--raw", str(raw), "--out", str(processed), "--config", config]) == 0
    card = json.loads((processed / "card.json").read_text())
    assert card["documents"] == 120 and card["vocabulary_size"] > 2
    assert not list(tmp_path.glob("**/*.partial"))


def test_train_names_the_known_models_and_the_missing_vectors_before_writing(tmp_path, project_root, caplog):
    out = tmp_path / "run"
    common = ["--dataset", "synthetic", "--order", "frequency", "--seed", "13", "--processed", str(tmp_path),
              "--label-order", str(tmp_path), "--out", str(out), "--params", str(project_root / "params.yaml")]
    assert main(["train", "--model", "SGM", *common]) == 2
    assert "unknown model 'SGM'; known models: br, lp, cc, br_neural, cnn, sgm, seq2seq" in caplog.text
    assert main(["train", "--model", "sgm", *common]) == 2
    assert "--features is required for the neural model sgm" in caplog.text
    assert not out.exists()


def test_train_with_a_params_file_applies_the_dataset_overrides_and_the_variant(tmp_path, project_root, params):
    """By hand, with the whole params file, a step reads what the workflow would pass it."""
    from sgm_mlc.cli import build_parser, run_params
    from sgm_mlc.experiment.plan import train_sections

    args = build_parser().parse_args([
        "train", "--dataset", "reuters21578", "--model", "sgm", "--variant", "no_self_attention", "--order",
        "frequency", "--seed", "13", "--processed", str(tmp_path), "--label-order", str(tmp_path), "--out",
        str(tmp_path / "run"), "--params", str(project_root / "params.yaml"),
    ])
    settings = run_params(args, train_sections)["models"]["sgm"]
    assert settings["hidden_size"] == params["overrides"]["reuters21578"]["models"]["sgm"]["hidden_size"]
    assert settings["self_attention"] is False
