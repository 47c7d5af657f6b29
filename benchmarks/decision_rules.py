"""Fit the linear baselines on a processed dataset's train split and print what each decision rule does on test.

    python benchmarks/decision_rules.py --processed /tmp/reu/processed
    python benchmarks/decision_rules.py --processed /tmp/reu/processed --models br --set min_positives=2

For each model: every candidate rule fitted on the validation split's margins (params.yaml's ``decision`` section,
overridden with ``--set``), its cross-fitted validation score, and its test micro- and macro-F1 (the project's
metrics, over every label); the rule the evaluation would choose is marked. The test split is only ever scored.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd
import yaml

from sgm_mlc.config import load_params
from sgm_mlc.data.parquet import read_examples
from sgm_mlc.decision import RULES, DecisionSettings, fit_decision, fit_rule
from sgm_mlc.experiment.linear import MARGIN_CUT
from sgm_mlc.labels.orders import ORDERS, label_ranking
from sgm_mlc.metrics.multilabel import precision_recall_f1, to_multi_hot
from sgm_mlc.models.linear import MODELS, build_linear_model


def parse_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of the ``decision`` section (the value read as YAML) -> ``(key, value)``."""
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, required=True, help="folder holding examples.parquet")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--order", choices=ORDERS, default="frequency", help="label ranking (cc's chain order)")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the decision section over params.yaml's (repeatable)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings = DecisionSettings.from_params({**params["decision"], **dict(args.set)})
    examples = read_examples(args.processed / "examples.parquet")
    ranking = label_ranking(args.order, examples["labels"].tolist(), examples["split"].tolist(), 13)
    splits = {name: examples[examples["split"] == name] for name in ("train", "valid", "test")}
    truth = {name: to_multi_hot([list(labels) for labels in split["labels"]], ranking) for name, split in splits.items()}
    print(f"{args.processed}: train {len(splits['train'])}, valid {len(splits['valid'])}, test {len(splits['test'])}, "
          f"{len(ranking)} labels; decision {dataclasses.asdict(settings)}")
    rows = []
    for name in args.models:
        model = build_linear_model(name, params["models"][name], ranking)
        model.fit(splits["train"]["tokens"].tolist(), splits["train"]["labels"].tolist(), ranking)
        scores = {split: model.decision_scores(splits[split]["tokens"].tolist()) for split in ("valid", "test")}
        decision = fit_decision(scores["valid"], truth["valid"], ranking, settings, MARGIN_CUT, True, "margins")
        for rule_name in (rule for rule in RULES if rule in settings.rules):
            rule = fit_rule(rule_name, scores["valid"], truth["valid"], settings, MARGIN_CUT)
            predicted = rule.apply(scores["test"])
            rows.append({
                "model": name,
                "rule": rule_name + (" *" if rule_name == decision.rule.name else ""),
                f"valid_{settings.metric}": decision.validation[rule_name],
                "test_micro_f1": precision_recall_f1(truth["test"], predicted, "micro")[2],
                "test_macro_f1": precision_recall_f1(truth["test"], predicted, "macro")[2],
                "fallback_labels": sum(rule.fallback),
            })
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    print("*: the rule chosen on validation")


if __name__ == "__main__":
    main()
