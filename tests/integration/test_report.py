"""`snakemake all` on tiny settings with every experiment: the report's numbers equal their files, and the HTML
renders in headless Chromium with its tables and images and no console error."""

import base64
import io
import json
import re
import shutil
import subprocess
from functools import reduce

import pytest
from PIL import Image

from tests.integration.workflow import snakemake
from tests.support.browser import headless_chromium

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def test_every_number_of_the_report_equals_its_metrics_file(built_project):
    numbers = json.loads((built_project / "results/report/numbers.json").read_text())
    assert numbers["values"] and numbers["cells"] and numbers["tests"]
    tables = {entry["table"] for entry in numbers["values"]}
    assert {"main", "ablations", "label_orders", "cross:synthetic_shift"} <= tables
    for entry in numbers["values"]:
        source = json.loads((built_project / entry["file"]).read_text())
        assert reduce(lambda node, key: node[key], entry["key"], source) == pytest.approx(entry["value"], abs=1e-12)
        assert entry["run_id"] and entry["link"].startswith("http://127.0.0.1:5000/#/experiments/")
    markdown = (built_project / "results/report/report.md").read_text()
    html = (built_project / "results/report/index.html").read_text()
    for cell in numbers["cells"]:
        assert cell["text"].split(" ")[0] in markdown and cell["text"].split(" ")[0] in html
    assert "synthetic_shift" in html and "mapped labels" in html
    assert "synthetic\\_shift" in markdown and "mapped labels" in markdown
    assert all(0 <= test["p_value"] <= 1 for test in numbers["tests"])


def test_the_report_is_self_contained(built_project):
    html = (built_project / "results/report/index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    remote = [source for source in sources if source.startswith(("http://", "https://", "//"))]
    assert all(source.startswith("http://127.0.0.1:5000/#/experiments/") for source in remote)
    assert all(source.startswith("data:image/png;base64,") for source in re.findall(r'<img[^>]+src="([^"]+)"', html))


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package chromium)")
def test_the_report_renders_in_chromium_without_console_errors(built_project, tmp_path):
    page = (built_project / "results/report/index.html").as_uri()
    profile = tmp_path / "chromium-profile"
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=15000", "--dump-dom", page],
        capture_output=True, text=True, timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert dom.stdout.count("<table") >= 4
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', dom.stdout)
    assert len(images) >= 4  # curves, per-label F1, label-set sizes, orders (+ attention heatmaps)
    for image in images:
        Image.open(io.BytesIO(base64.b64decode(image))).verify()  # raises on a broken PNG
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, "\n".join(console)

    screenshot = built_project / "results/report/screenshot.png"
    shot = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400",
         "--virtual-time-budget=15000", f"--screenshot={screenshot}", page],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-3000:]


TABLE_WIDTHS = """return Array.from(document.querySelectorAll('table')).map(table => ({
  caption: table.caption ? table.caption.innerText : '', width: table.scrollWidth, room: table.parentElement.clientWidth}));"""


def test_every_table_fits_a_1280_pixel_window(built_project):
    with headless_chromium(1280, 900) as browser:
        browser.get((built_project / "results/report/index.html").as_uri())
        tables = browser.execute_script(TABLE_WIDTHS)
        assert len(tables) >= 6
        too_wide = [table for table in tables if table["width"] > table["room"]]
        assert not too_wide, too_wide
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        # The picture of the report's first screen (the README shows it: docs/images/report.png).
        browser.save_screenshot(str(built_project / "results/report/first-screen.png"))


def test_snakemake_report_zip_is_built(built_project):
    snakemake(built_project, "--report", "report.zip")
    assert (built_project / "report.zip").stat().st_size > 0
