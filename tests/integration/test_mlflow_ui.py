"""The MLflow UI on the store that `snakemake all` builds, in headless Chromium (Selenium with Debian's
chromedriver): the link the report gives opens the experiment on its training runs, each recipe's seeds unfold
under their parent run, durations are the trainings' own, the Dataset column names the splits, and the best model
is in the registry. Screenshots are saved under the project's ``results/mlflow_ui/``."""

from __future__ import annotations

import json
import re

import pytest
from mlflow import MlflowClient

from tests.integration.servers import mlflow_server
from tests.support.browser import headless_chromium, wait_until

pytestmark = pytest.mark.integration
WINDOW = (2400, 1400)  # wide enough that the grid renders every column
ROWS_SCRIPT = """
const rows = {};
document.querySelectorAll('[role=row][row-id]').forEach(row => {
  const id = row.getAttribute('row-id');
  rows[id] = rows[id] || {index: Number(row.getAttribute('row-index')), cells: {}};
  row.querySelectorAll('[role=gridcell]').forEach(cell => { rows[id].cells[cell.getAttribute('col-id')] = cell.innerText; });
});
return rows;
"""
EXPAND_SCRIPT = """
for (const link of document.querySelectorAll('[role=gridcell] a')) {
  if (link.getAttribute('href').endsWith('/runs/' + arguments[0])) { link.closest('[role=gridcell]').querySelector('button').click(); }
}
"""
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}


def seconds(duration: str) -> float:
    """The UI's duration text (``91ms``, ``27.8s``, ``1.2min``, ``1.0h``) in seconds."""
    match = re.fullmatch(r"([\d.]+)\s*(ms|s|min|h)", duration.strip())
    assert match, f"not a duration: {duration!r}"
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


@pytest.fixture(scope="module")
def ui(built_project):
    """The store of the built project served by ``mlflow server`` on a free port of 127.0.0.1."""
    with mlflow_server(f"sqlite:///{built_project / 'mlflow.db'}", built_project / "mlruns", workers=1) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser():
    with headless_chromium(*WINDOW) as driver:
        yield driver


def grid_rows(browser, expected: int) -> dict[str, dict]:
    """The runs table's rows (run id → row index and each column's text), once ``expected`` rows are drawn."""
    wait_until(browser, lambda driver: len(driver.execute_script(ROWS_SCRIPT)) >= expected)
    return browser.execute_script(ROWS_SCRIPT)


def test_the_experiment_opens_on_its_runs_grouped_by_recipe_with_real_durations(built_project, ui, browser):
    organised = json.loads((built_project / "results/tracking/synthetic/run_groups.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{built_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sgm-mlc")
    top_level = [run.info.run_id for run in client.search_runs([experiment.experiment_id])
                 if "mlflow.parentRunId" not in run.data.tags]
    parents = {group["run_id"]: group for group in organised["groups"]}
    assert set(parents) <= set(top_level)

    # The link the report gives for the experiment.
    overview = json.loads((built_project / "results/report/numbers.json").read_text())["experiment_url"]
    assert overview.startswith("http://127.0.0.1:5000/#/experiments/")
    browser.get(overview.replace("http://127.0.0.1:5000", ui))
    rows = grid_rows(browser, len(top_level))
    page = browser.find_element("tag name", "body").text
    assert "Token Usage" not in page and "matching runs" in page  # the training runs, not the GenAI overview
    # Only the top level is shown: every recipe once, its seeds folded under it.
    assert set(rows) == set(top_level)
    for run_id, group in parents.items():
        assert group["name"] in rows[run_id]["cells"]["attributes.`Run Name`"]
        assert f"{group['dataset']}-train" in rows[run_id]["cells"]["attributes.`Dataset`"]
        trained = [json.loads((built_project / f"results/models/{group['dataset']}/{group['model']}/{group['variant']}/"
                                              f"{group['order']}/seed{seed}/train_summary.json").read_text())
                   for seed in group["seeds"]]
        # A parent spans its seeds' trainings (the UI shows one decimal).
        assert seconds(rows[run_id]["cells"]["duration"]) >= max(t["train_seconds"] for t in trained) - 0.05
    browser.save_screenshot(str(screenshots(built_project) / "runs.png"))

    sgm = next(group for group in organised["groups"] if group["name"] == "synthetic-sgm-default-frequency")
    browser.execute_script(EXPAND_SCRIPT, sgm["run_id"])
    rows = grid_rows(browser, len(top_level) + len(sgm["seeds"]))
    parent_index = rows[sgm["run_id"]]["index"]
    below = {rows[run_id]["index"] for run_id in sgm["seeds"].values()}
    assert below == set(range(parent_index + 1, parent_index + 1 + len(sgm["seeds"])))  # right under the parent
    for seed, run_id in sgm["seeds"].items():
        cells = rows[run_id]["cells"]
        assert f"synthetic-sgm-default-frequency-{seed}" in cells["attributes.`Run Name`"]
        assert "synthetic-train" in cells["attributes.`Dataset`"]
        trained = json.loads((built_project / f"results/models/synthetic/sgm/default/frequency/seed{seed}/"
                                              "train_summary.json").read_text())
        assert seconds(cells["duration"]) >= trained["train_seconds"] - 0.05
    browser.save_screenshot(str(screenshots(built_project) / "runs-expanded.png"))


def test_the_best_model_is_listed_in_the_registry_with_its_alias(built_project, ui, browser):
    registered = json.loads((built_project / "results/tracking/synthetic/run_groups.json").read_text())["registered_model"]
    browser.get(f"{ui}/#/models?workflowType=machine_learning")
    wait_until(browser, lambda driver: registered["name"] in driver.find_element("tag name", "body").text)
    page = browser.find_element("tag name", "body").text
    assert re.search(rf"{registered['name']}\s+Version {registered['version']}\s+@ best", page), page
    browser.save_screenshot(str(screenshots(built_project) / "registry.png"))


def screenshots(project):
    folder = project / "results" / "mlflow_ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
