"""Paired significance tests between two rows of a table: each row's seed runs pooled per test document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sgm_mlc.experiment.plan import Run
from sgm_mlc.metrics.significance import DocumentCounts, PairedTest, paired_tests, pooled_counts
from sgm_mlc.report.collect import Results, predictions_file
from sgm_mlc.report.document import SIGNIFICANT, PValueCell

METHOD_NAMES = {
    "approximate_randomization": "paired approximate randomization",
    "paired_bootstrap": "paired bootstrap",
}


class Comparisons:
    """Tests rows of runs against each other with ``experiments.significance``; pooled counts are cached."""

    def __init__(self, results: Results):
        self.results = results
        self.settings: dict[str, Any] = results.params["experiments"]["significance"]
        self._counts: dict[tuple[Run, ...], tuple[list[str], DocumentCounts]] = {}

    def test(self, a: Sequence[Run], b: Sequence[Run]) -> dict[str, PValueCell]:
        """Each metric of :data:`~sgm_mlc.metrics.significance.METRICS` → the test of ``a`` against ``b``."""
        ids_a, counts_a = self.counts(a)
        ids_b, counts_b = self.counts(b)
        if ids_a != ids_b:
            raise ValueError(
                f"{a[0].path} and {b[0].path} were tested on different documents; re-run evaluate_model for both"
            )
        settings = self.settings
        tests: dict[str, PairedTest] = paired_tests(
            counts_a, counts_b, settings["method"], settings["resamples"], settings["seed"]
        )
        files = [predictions_file(run) for run in (*a, *b)]
        return {metric: PValueCell(test, settings["alpha"], files) for metric, test in tests.items()}

    def counts(self, runs: Sequence[Run]) -> tuple[list[str], DocumentCounts]:
        """The test documents' ids (sorted) and the runs' counts on them, averaged over the runs."""
        key = tuple(runs)
        if key not in self._counts:
            frames = [self.results.predictions(run) for run in runs]
            ids = sorted(frames[0].index)
            for run, frame in zip(runs, frames):
                if sorted(frame.index) != ids:
                    raise ValueError(
                        f"{predictions_file(run)} holds other test documents than "
                        f"{predictions_file(runs[0])}; re-run evaluate_model for both"
                    )
            frames = [frame.loc[ids] for frame in frames]
            counts = pooled_counts(
                list(frames[0]["true_labels"]), [list(frame["predicted_labels"]) for frame in frames]
            )
            self._counts[key] = (ids, counts)
        return self._counts[key]

    def describe(self) -> str:
        """The method, in a sentence for table notes."""
        settings = self.settings
        return (
            f"p: {METHOD_NAMES[settings['method']]} test over the test documents ({settings['resamples']} "
            f"resamples, seed {settings['seed']}), each system's seed runs averaged per document; {SIGNIFICANT} "
            f"marks p < {settings['alpha']}."
        )
