"""Headless Chromium driven by Selenium through Debian's chromedriver (packages chromium, chromium-driver)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMEDRIVER = shutil.which("chromedriver")


@contextmanager
def headless_chromium(width: int, height: int) -> Iterator:
    """A Selenium driver of a headless Chromium window of ``width`` × ``height`` pixels, quit at the end; skips
    the test where selenium or chromedriver is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a test dependency: pip install -e '.[test]'")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if CHROMEDRIVER is None:
        pytest.skip("chromedriver is not installed (Debian package chromium-driver)")
    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver, condition, seconds: float = 60):
    """``condition(driver)``'s first true value, polled for up to ``seconds`` (a TimeoutException after)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)
