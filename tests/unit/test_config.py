import pytest
import yaml

from sgm_mlc.config import ParamsError, load_params, validate_params, validate_sections


def test_project_params_are_valid(project_root):
    params = load_params(project_root / "params.yaml")
    assert params["run"]["datasets"]


def test_misspelt_key_names_key_and_allowed_keys(params):
    params["embeddings"]["dimenson"] = params["embeddings"].pop("dimension")
    with pytest.raises(ParamsError) as caught:
        validate_params(params)
    message = str(caught.value)
    assert "embeddings: unknown key(s) 'dimenson'" in message
    assert "allowed keys: dimension, epochs" in message
    assert "'dimension' is a required property" in message


def test_wrong_type_names_key_and_type(params):
    params["embeddings"]["window"] = "5"
    with pytest.raises(ParamsError, match=r"embeddings\.window: '5' should be of type integer"):
        validate_params(params)


def test_float_written_without_dot_is_caught(tmp_path, params):
    text = yaml.safe_dump(params).replace("background_word_share: 0.6", "background_word_share: 6e-1")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"datasets\.synthetic\.background_word_share: '6e-1' should be of type number"):
        load_params(path)


def test_unknown_dataset_lists_allowed_values(params):
    params["run"]["datasets"] = ["synthetic", "reuters"]
    with pytest.raises(ParamsError) as caught:
        validate_params(params)
    assert (
        "run.datasets.1: 'reuters' is not a dataset of the datasets section; known datasets: coco2017, reuters21578, synthetic, synthetic_shift, voc2007, yelp"
        in str(caught.value)
    )
    params["run"]["datasets"] = ["synthetic"]
    params["datasets"]["reuters"] = {"url": "file:///x"}
    with pytest.raises(ParamsError) as caught:
        validate_params(params)
    assert str(caught.value).splitlines()[1:] == [
        "  - datasets.reuters: not a built-in dataset (coco2017, reuters21578, synthetic, synthetic_shift, voc2007, yelp); your own "
        "data needs kind: table (docs/datasets.md)"
    ]


def test_pretrained_method_requires_a_path(params):
    params["embeddings"]["method"] = "pretrained"
    with pytest.raises(ParamsError, match=r"embeddings\.pretrained_path: None"):
        validate_params(params)


def test_missing_file_and_bad_yaml_name_the_file(tmp_path):
    with pytest.raises(ParamsError, match="no such params file"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("run: [unclosed\n")
    with pytest.raises(ParamsError, match=f"{broken}: not valid YAML"):
        load_params(broken)


def test_sections_validate_on_their_own(params):
    validate_sections({"embeddings": params["embeddings"], "datasets": {"synthetic": params["datasets"]["synthetic"]}})
    params["datasets"]["synthetic"]["seed"] = -1
    with pytest.raises(ParamsError) as caught:
        validate_sections({"datasets": {"synthetic": params["datasets"]["synthetic"], "imagenet": {}}, "model": {}})
    message = str(caught.value)
    assert "datasets.synthetic.seed: -1 is less than the minimum of 0" in message
    assert "datasets.imagenet: not a built-in dataset (" in message
    assert "model: unknown section" in message


def test_bad_value_in_a_model_gives_one_line_not_an_unknown_key(params):
    params["models"]["sgm"] = {**params["models"]["sgm"], "dropout": "high"}
    with pytest.raises(ParamsError) as caught:
        validate_params(params)
    assert str(caught.value).splitlines()[1:] == ["  - models.sgm.dropout: 'high' should be of type number"]
    with pytest.raises(ParamsError) as caught:
        validate_sections({"models": {"sgm": params["models"]["sgm"]}})
    assert str(caught.value).splitlines()[1:] == ["  - models.sgm.dropout: 'high' should be of type number"]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("training", "batch_size", 32.0, "training.batch_size: 32.0 should be of type integer (write it without a decimal point)"),
        ("training", "learning_rate", float("nan"), "training.learning_rate: nan is not a finite number"),
        ("training", "set_threshold", float("inf"), "training.set_threshold: inf is not a finite number"),
        ("training", "epochs", True, "training.epochs: True should be of type integer"),
    ],
)
def test_numbers_are_finite_and_integers_are_ints(params, section, key, value, message):
    params[section][key] = value
    with pytest.raises(ParamsError) as caught:
        validate_params(params)
    assert str(caught.value).splitlines()[1:] == [f"  - {message}"]


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path):
    from sgm_mlc.config import load_params

    path = tmp_path / "params.yaml"
    path.write_text("training:\n  epochs: 3\n  batch_size: 8\n  epochs: 4\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"params.yaml: not valid YAML: key 'epochs' appears twice \(lines 2 and 4\)"):
        load_params(path)
