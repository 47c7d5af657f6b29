"""Significance tests of a table's rows against its reference row: seeds and test documents both random
(:func:`~sgm_mlc.metrics.significance.seed_aware_tests`), p-values corrected within each family of comparisons
(one family per dataset, table and metric)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sgm_mlc.experiment.plan import DETERMINISTIC_MODELS, CrossRun, Run
from sgm_mlc.metrics.significance import (
    CONFIDENCE,
    METRICS,
    SeedAwareTest,
    SystemRuns,
    holm,
    run_counts,
    seed_aware_tests,
)
from sgm_mlc.report.collect import Results, predictions_file
from sgm_mlc.report.document import SIGNIFICANT, Comparison

CORRECTIONS = {"holm": "Holm–Bonferroni"}


@dataclass
class Family:
    """The comparisons of one table against its reference row: ``tests`` maps each tested row's label to its
    comparison on each metric of :data:`~sgm_mlc.metrics.significance.METRICS`; ``untested`` names the rows
    that could not be tested (one run of a model that depends on its seed)."""

    description: str
    reference: str
    tests: dict[str, dict[str, Comparison]] = field(default_factory=dict)
    untested: list[str] = field(default_factory=list)


class Comparisons:
    """Tests rows of runs against a reference row with ``experiments.significance``; each row's per-run counts
    on the test documents are cached."""

    def __init__(self, results: Results):
        self.results = results
        self.settings: dict[str, Any] = results.params["experiments"]["significance"]
        self._systems: dict[tuple[Run | CrossRun, ...], tuple[list[str], SystemRuns]] = {}

    def family(self, description: str, reference: str, pairs: dict[str, tuple[Sequence[Run | CrossRun], Sequence[Run | CrossRun]]]) -> Family:
        """Each row of ``pairs`` (label → its runs and its reference row's runs) tested against its reference on
        every metric, the p-values corrected over the tested rows within each metric. ``description`` names the
        family and ``reference`` the reference row in the table's notes."""
        family = Family(description, reference)
        raw: dict[str, dict[str, SeedAwareTest]] = {}
        for row, (runs, reference_runs) in pairs.items():
            (ids, system), (reference_ids, reference_system) = self.system(runs), self.system(reference_runs)
            if not (system.seed_variance_known and reference_system.seed_variance_known):
                family.untested.append(row)
                continue
            if ids != reference_ids:
                raise ValueError(
                    f"{predictions_file(runs[0])} and {predictions_file(reference_runs[0])} hold different test "
                    "documents; re-run evaluate_model for both"
                )
            raw[row] = seed_aware_tests(system, reference_system)
        settings = self.settings
        for metric in METRICS:
            adjusted = holm([tests[metric].p_value for tests in raw.values()])
            for (row, tests), p_adjusted in zip(raw.items(), adjusted):
                files = [predictions_file(run) for run in (*pairs[row][0], *pairs[row][1])]
                family.tests.setdefault(row, {})[metric] = Comparison(
                    tests[metric], p_adjusted, settings["correction"], settings["alpha"], description, len(raw), files
                )
        return family

    def system(self, runs: Sequence[Run | CrossRun]) -> tuple[list[str], SystemRuns]:
        """The test documents' ids (sorted) and each run's counts on them."""
        key = tuple(runs)
        if key not in self._systems:
            frames = [self.results.predictions(run) for run in runs]
            ids = sorted(frames[0].index)
            for run, frame in zip(runs, frames):
                if sorted(frame.index) != ids:
                    raise ValueError(
                        f"{predictions_file(run)} holds other test documents than "
                        f"{predictions_file(runs[0])}; re-run evaluate_model for both"
                    )
            frames = [frame.loc[ids] for frame in frames]
            counts = run_counts(list(frames[0]["true_labels"]), [list(frame["predicted_labels"]) for frame in frames])
            model = (runs[0].run if isinstance(runs[0], CrossRun) else runs[0]).model
            self._systems[key] = (ids, SystemRuns(counts, deterministic=model in DETERMINISTIC_MODELS))
        return self._systems[key]

    def notes(self, family: Family) -> list[str]:
        """The method, the family and its correction, in sentences for the table's notes."""
        settings = self.settings
        confidence = f"{CONFIDENCE:.0%}"
        size = f"{len(family.tests)} comparison{'' if len(family.tests) == 1 else 's'}"
        notes = [
            f"Δ: the row's seed-mean score minus {family.reference}'s, with its {confidence} confidence interval; the test: "
            "two-sided t test with the seeds and the test documents both random (the variance of Δ is each row's "
            "between-seed variance over its runs, none for a deterministic model, plus the document-sampling "
            "variance by the delta method; df by Welch–Satterthwaite over the seed parts, grown by the document "
            "part's share).",
            f"p Holm: the test's p corrected by {CORRECTIONS[settings['correction']]} (the uncorrected p shows on "
            f"hover, and is in numbers.json) over the family of this table's comparisons on that "
            f"metric ({family.description}: {size}); {SIGNIFICANT} marks p Holm < "
            f"{settings['alpha']}.",
        ]
        if family.untested:
            notes.append(
                f"Not tested: {', '.join(family.untested)} (a model that depends on its seed, here or in "
                f"{family.reference}, was run once: its seed variance is unknown; train it with two seeds or more)."
            )
        return notes
