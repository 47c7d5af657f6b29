"""The experiment plan: which runs ``params.yaml`` asks for, and which runs each table of the report reads.

A *run* is one model, in one *variant* (a named set of switches over the model's settings; ``default`` is the
model as configured), trained on one dataset with one label order and one seed. The tables are selections of
runs:

* **main**: every model of ``run.models`` at ``run.order``, one run per seed; with ``tuning.enabled``, each model
  also in the ``tuned`` variant (the settings its study found, read from its ``best.yaml`` when the run starts);
* **ablations**: ``experiments.ablations.model`` in each variant of ``experiments.ablations.variants``;
* **label orders**: each model of ``experiments.label_orders.models`` with each of its ``orders``;
* **cross-dataset**: models trained on one dataset and evaluated on another (``experiments.cross_dataset``).

Runs are identified by what they compute, so no run is trained twice for two tables: a variant whose
settings equal the model's own is the ``default`` run, a model whose result does not depend on the label order
is trained with ``run.order`` only, and a deterministic model (the linear baselines give the same numbers for
every seed) is trained with the first seed only.

Each step is given exactly the params it reads (:func:`train_sections`, :func:`evaluate_sections`): an
evaluation-only setting (``decoding.beam_size``) never retrains, and the linear models, which read no word
vectors and no training recipe, are not retrained when those change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sgm_mlc.config import dataset_view, deep_merge
from sgm_mlc.data.names import dataset_modality as modality_of
from sgm_mlc.models.names import (
    LINEAR_MODELS,
    MODEL_NAMES,
    NEURAL_MODELS,
    SEQUENCE_MODELS,
    SET_LOSSES,
    SET_MODELS,
    TEXT_ONLY_MODELS,
)
from sgm_mlc.tuning.space import check_space

DEFAULT_VARIANT = "default"
# The variant trained with a study's best settings, and the order segment of a tuned run whose label order the
# study chose (read from best.yaml when the run starts).
TUNED_VARIANT = "tuned"
TUNED_ORDER = "tuned"
# Models whose result depends on the label order (a chain's order; a decoder's target sequence).
ORDER_DEPENDENT_MODELS = ("cc",) + SEQUENCE_MODELS
# Models that give the same result for every seed.
DETERMINISTIC_MODELS = LINEAR_MODELS
# The training settings each kind of neural model reads while training (the rest are read at evaluation).
NEURAL_TRAINING_KEYS = (
    "epochs", "batch_size", "learning_rate", "lr_decay", "decay_start_epoch", "max_grad_norm", "ema_decay",
    "patience", "selection_metric", "max_source_length", "device", "precision", "eval_batch_size",
    "eval_max_tokens", "deterministic",
)
# Set models select their best epoch by the validation score of thresholded predictions.
SET_MODEL_TRAINING_KEYS = NEURAL_TRAINING_KEYS + ("set_threshold",)
EVALUATION_TRAINING_KEYS = (
    "max_source_length", "device", "precision", "eval_batch_size", "eval_max_tokens", "eval_precision",
)


@dataclass(frozen=True, order=True)
class Run:
    """One trained model: ``results/<phase>/<dataset>/<model>/<variant>/<order>/seed<seed>``."""

    dataset: str
    model: str
    variant: str
    order: str
    seed: int

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.model}/{self.variant}/{self.order}/seed{self.seed}"

    def folder(self, phase: str) -> str:
        return f"results/{phase}/{self.path}"

    @property
    def name(self) -> str:
        """``<dataset>-<model>-<variant>-<order>-<seed>``: the MLflow run name."""
        return "-".join((self.dataset, self.model, self.variant, self.order, str(self.seed)))

    @classmethod
    def from_path(cls, path: str) -> Run:
        """The run of ``path`` (``<dataset>/<model>/<variant>/<order>/seed<seed>``, as :attr:`path` writes it)."""
        parts = path.strip("/").split("/")
        if len(parts) != 5 or not parts[4].startswith("seed") or not parts[4][4:].isdigit():
            raise ValueError(f"{path!r} is not a run path <dataset>/<model>/<variant>/<order>/seed<seed>")
        dataset, model, variant, order, seed = parts
        return cls(dataset, model, variant, order, int(seed[4:]))


@dataclass(frozen=True, order=True)
class CrossRun:
    """A run trained on ``run.dataset`` evaluated on ``target`` over their shared labels:
    ``results/cross_dataset/<source>__<target>/<model>/<variant>/<order>/seed<seed>``."""

    run: Run
    target: str

    @property
    def pair(self) -> str:
        return f"{self.run.dataset}__{self.target}"

    @property
    def folder(self) -> str:
        return f"results/cross_dataset/{self.pair}/{self.run.model}/{self.run.variant}/{self.run.order}/seed{self.run.seed}"


@dataclass
class DatasetTables:
    """The runs behind each table of one dataset: row name → the runs of its seeds."""

    main: dict[str, list[Run]] = field(default_factory=dict)
    ablations: dict[str, list[Run]] = field(default_factory=dict)
    tuned: dict[str, list[Run]] = field(default_factory=dict)  # model → its tuned runs (tuning.enabled)
    orders: dict[str, dict[str, list[Run]]] = field(default_factory=dict)  # model → order → runs
    cross: dict[str, dict[str, list[CrossRun]]] = field(default_factory=dict)  # target → model → runs
    skipped: dict[str, str] = field(default_factory=dict)  # model asked for but not run here → why


@dataclass
class Plan:
    runs: list[Run]
    cross_runs: list[CrossRun]
    tables: dict[str, DatasetTables]
    label_orders: list[str]
    # Datasets that are only evaluated on (cross-dataset targets not in run.datasets).
    evaluation_only_datasets: list[str]

    @property
    def datasets(self) -> list[str]:
        return list(self.tables) + self.evaluation_only_datasets


def model_settings(params: dict[str, Any], dataset: str, model: str, variant: str) -> dict[str, Any]:
    """``models.<model>`` as ``dataset`` sees it (overrides merged), with ``variant``'s switches applied (the
    ``tuned`` variant's values come from its study's best.yaml when the run starts)."""
    settings = dataset_view(params, dataset)["models"][model]
    if variant in (DEFAULT_VARIANT, TUNED_VARIANT):
        return settings
    return deep_merge(settings, variant_switches(params, model, variant))


def ablation_variants(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variant name → switches of ``experiments.ablations`` (none when the study is off: ``null``)."""
    ablations = params["experiments"]["ablations"]
    return ablations["variants"] if ablations else {}


def variant_switches(params: dict[str, Any], model: str, variant: str) -> dict[str, Any]:
    ablations = params["experiments"]["ablations"]
    variants = ablation_variants(params)
    if not ablations or model != ablations["model"] or variant not in variants:
        studied = f"variants of {ablations['model']}: {', '.join(sorted(variants)) or 'none'}" if ablations else "no ablation study"
        raise ValueError(
            f"unknown variant {variant!r} of model {model!r}; {studied} (experiments.ablations in params.yaml)"
        )
    return variants[variant]


def canonical_run(params: dict[str, Any], dataset: str, model: str, variant: str, order: str, seed: int) -> Run:
    """The run that computes what was asked: a variant equal to the default is the default run, an
    order-independent model uses ``run.order`` (a tuned run whose study chose the order: ``tuned``), a
    deterministic model the first seed."""
    if variant not in (DEFAULT_VARIANT, TUNED_VARIANT) and model_settings(
        params, dataset, model, variant
    ) == model_settings(params, dataset, model, DEFAULT_VARIANT):
        variant = DEFAULT_VARIANT
    if variant == TUNED_VARIANT:
        order = TUNED_ORDER if tunes_order(params, dataset, model) else params["run"]["order"]
    elif model not in ORDER_DEPENDENT_MODELS:
        order = params["run"]["order"]
    if model in DETERMINISTIC_MODELS:
        seed = params["run"]["seeds"][0]
    return Run(dataset, model, variant, order, seed)


def tunes_order(params: dict[str, Any], dataset: str, model: str) -> bool:
    """Whether ``model``'s study on ``dataset`` chooses its label order."""
    return "order" in dataset_view(params, dataset)["tuning"]["spaces"].get(model, {})


def tuned_models(params: dict[str, Any], dataset: str, models: Iterable[str]) -> list[str]:
    """The models of ``models`` with a tuned row on ``dataset``: all of them with a search space, when
    ``tuning.enabled``."""
    tuning = dataset_view(params, dataset)["tuning"]
    return [model for model in models if tuning["enabled"] and model in tuning["spaces"]]


def dataset_modality(params: dict[str, Any], dataset: str) -> str:
    """``text`` or ``image``: what the examples of ``dataset`` are."""
    return modality_of(dataset, params.get("datasets", {}).get(dataset))


def check_tuning_spaces(params: dict[str, Any], datasets: Iterable[str]) -> None:
    """Raise ``ValueError`` where a model's search space (as each of ``datasets`` sees it) names a setting the
    model does not have (see :func:`sgm_mlc.tuning.space.check_space`)."""
    for dataset in datasets:
        view = dataset_view(params, dataset)
        for model, space in view["tuning"]["spaces"].items():
            training = view["training"] if model in NEURAL_MODELS else {}
            check_space(model, space, view["models"][model], training, model in ORDER_DEPENDENT_MODELS)


def experiment_plan(params: dict[str, Any]) -> Plan:
    """Every run and every table that ``params`` asks for (see the module docstring); on an image dataset the
    models that read words are left out, and the table says so."""
    run_section = params["run"]
    check_tuning_spaces(params, run_section["datasets"])
    experiments = params["experiments"]
    seeds = run_section["seeds"]
    base_order = run_section["order"]
    tables: dict[str, DatasetTables] = {}
    cross_runs: list[CrossRun] = []

    def runs_of(dataset: str, model: str, variant: str, order: str) -> list[Run]:
        if model in tables[dataset].skipped:
            return []
        return sorted({canonical_run(params, dataset, model, variant, order, seed) for seed in seeds})

    for dataset in run_section["datasets"]:
        table = tables[dataset] = DatasetTables()
        if dataset_modality(params, dataset) == "image":
            mentioned = set(run_section["models"]) | set((experiments["label_orders"] or {}).get("models", []))
            mentioned |= {model for pair in experiments["cross_dataset"] if pair["train"] == dataset for model in pair["models"]}
            table.skipped = {
                model: "reads words; not run on an image dataset" for model in TEXT_ONLY_MODELS if model in mentioned
            }
        for model in run_section["models"]:
            if model not in table.skipped:
                table.main[model] = runs_of(dataset, model, DEFAULT_VARIANT, base_order)
        for model in tuned_models(params, dataset, table.main):
            table.tuned[model] = runs_of(dataset, model, TUNED_VARIANT, base_order)
        if variants := ablation_variants(params):
            model = experiments["ablations"]["model"]
            table.ablations[DEFAULT_VARIANT] = runs_of(dataset, model, DEFAULT_VARIANT, base_order)
            for variant in variants:
                table.ablations[variant] = runs_of(dataset, model, variant, base_order)
        if orders_study := experiments["label_orders"]:
            for model in (m for m in orders_study["models"] if m not in table.skipped):
                table.orders[model] = {
                    order: runs_of(dataset, model, DEFAULT_VARIANT, order) for order in orders_study["orders"]
                }
    for pair in experiments["cross_dataset"]:
        if pair["train"] not in tables:
            continue
        table = tables[pair["train"]]
        by_model = table.cross.setdefault(pair["test"], {})
        for model in (m for m in pair["models"] if m not in table.skipped):
            by_model[model] = [CrossRun(run, pair["test"]) for run in runs_of(pair["train"], model, DEFAULT_VARIANT, base_order)]
            cross_runs += by_model[model]

    runs = sorted(set(all_runs(tables)))
    label_orders = list(dict.fromkeys([base_order] + sorted({run.order for run in runs} - {TUNED_ORDER})))
    for dataset, table in tables.items():  # the orders a tuned run may choose among
        for model in table.tuned:
            if tunes_order(params, dataset, model):
                choices = dataset_view(params, dataset)["tuning"]["spaces"][model]["order"]["choices"]
                label_orders += [order for order in choices if order not in label_orders]
    targets = [pair["test"] for pair in experiments["cross_dataset"] if pair["train"] in tables]
    evaluation_only = [name for name in dict.fromkeys(targets) if name not in tables]
    return Plan(runs, sorted(set(cross_runs)), tables, label_orders, evaluation_only)


def explained_runs(params: dict[str, Any], plan: Plan) -> dict[str, Run]:
    """Dataset → the run whose attention over the words the report shows (the first seed of the main table's
    ``sgm``, else ``seq2seq``; text datasets only); none when ``experiments.interpretability.examples`` is 0."""
    if params["experiments"]["interpretability"]["examples"] == 0:
        return {}
    explained = {}
    for dataset, table in plan.tables.items():
        if dataset_modality(params, dataset) != "text":
            continue
        sequence_runs = [table.main[model][0] for model in ("sgm", "seq2seq") if table.main.get(model)]
        if sequence_runs:
            explained[dataset] = sequence_runs[0]
    return explained


def all_runs(tables: dict[str, DatasetTables]) -> Iterable[Run]:
    for table in tables.values():
        for runs in list(table.main.values()) + list(table.tuned.values()) + list(table.ablations.values()):
            yield from runs
        for by_order in table.orders.values():
            for runs in by_order.values():
                yield from runs
        for by_model in table.cross.values():
            for cross in by_model.values():
                yield from (item.run for item in cross)


def train_sections(params: dict[str, Any], run: Run) -> dict[str, Any]:
    """Exactly the params the train step of ``run`` reads: its model's settings and, for neural models, the
    training recipe (without the evaluation-only settings)."""
    sections: dict[str, Any] = {"models": {run.model: model_settings(params, run.dataset, run.model, run.variant)}}
    if run.model in NEURAL_MODELS:
        training = dataset_view(params, run.dataset)["training"]
        keys = SET_MODEL_TRAINING_KEYS if run.model in SET_MODELS else NEURAL_TRAINING_KEYS
        sections["training"] = {key: training[key] for key in keys}
    return sections


def tracked_sections(params: dict[str, Any], run: Run) -> dict[str, Any]:
    """Everything ``run`` depends on, logged as its MLflow parameters (and hashed into its run key): what its
    train and evaluate steps read, its dataset's entry, preprocessing, label orders and tracking, and for neural
    models the word vectors' settings."""
    sections = deep_merge(train_sections(params, run), evaluate_sections(params, run))
    view = dataset_view(params, run.dataset)
    sections.update(
        datasets={run.dataset: view["datasets"][run.dataset]},
        preprocess=view["preprocess"],
        label_orders=view["label_orders"],
        tracking=view["tracking"],
    )
    if run.model in NEURAL_MODELS:
        sections["embeddings"] = view["embeddings"]
    return sections


def tuned_settings_file(dataset: str, model: str) -> str:
    """The best settings of ``model``'s study on ``dataset`` (read by its ``tuned`` runs), relative to the project."""
    return f"results/tuning/{dataset}/{model}/best.yaml"


def training_runs_file(dataset: str) -> str:
    """The record of ``dataset``'s logged training runs (``log_training_runs``): each run's path → its MLflow
    ``run_id``, ``run_key``, ``model_uri``, ``tracking_uri`` and ``experiment``."""
    return f"results/tracking/{dataset}/training_runs.json"


def tune_sections(params: dict[str, Any], dataset: str, model: str) -> dict[str, Any]:
    """Exactly the params a study of ``model`` on ``dataset`` reads: the model's settings, for neural models the
    training recipe, and what of ``tuning`` shapes the study (its own space; not the switches of the table)."""
    run = Run(dataset, model, DEFAULT_VARIANT, params["run"]["order"], params["tuning"]["seed"])
    sections = train_sections(params, run)
    tuning = dataset_view(params, dataset)["tuning"]
    sections["tuning"] = {
        key: value for key, value in tuning.items() if key not in ("enabled", "run_studies", "workers", "spaces")
    } | {"spaces": {model: tuning["spaces"][model]}}
    return sections


def evaluate_sections(params: dict[str, Any], run: Run) -> dict[str, Any]:
    """Exactly the params the evaluate step of ``run`` reads: its model's settings, and for neural models the
    evaluation batching and device, plus the decoding settings (sequence models) or threshold (set models)."""
    sections: dict[str, Any] = {"models": {run.model: model_settings(params, run.dataset, run.model, run.variant)}}
    if run.model in NEURAL_MODELS:
        view = dataset_view(params, run.dataset)
        keys = EVALUATION_TRAINING_KEYS + (("set_threshold",) if run.model in SET_MODELS else ())
        sections["training"] = {key: view["training"][key] for key in keys}
        if run.model in SEQUENCE_MODELS:
            sections["decoding"] = view["decoding"]
    if fits_decision_rule(params, run, sections["models"][run.model]):
        sections["decision"] = params["decision"]
    return sections


def fits_decision_rule(params: dict[str, Any], run: Run, settings: dict[str, Any]) -> bool:
    """Whether the evaluation of ``run`` (its model's ``settings``) fits a decision rule (:mod:`sgm_mlc.decision`):
    the models that score labels do, and sequence models trained with a set loss (a tuned run whenever its study
    may choose the loss)."""
    if run.model not in SEQUENCE_MODELS:
        return True
    tuned_space = dataset_view(params, run.dataset)["tuning"]["spaces"].get(run.model, {})
    if run.variant == TUNED_VARIANT and "loss" in tuned_space:
        return True
    return settings["loss"] in SET_LOSSES
