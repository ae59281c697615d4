"""``hpsearch ui`` serves MLflow's UI on the project's store, bound to 127.0.0.1, and a
browser sees the study: its parent run, the trial runs under it, and the plots."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import TINY_GRID, write_study
from hpsearch.cli import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/", timeout=2) as response:
                assert response.status == 200
                return
        except OSError:
            assert server.poll() is None, server.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the UI did not come up"
            time.sleep(0.5)


def chromium(window: str = "1400,900"):
    """Headless Debian Chromium through its chromedriver (no driver download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "the UI test needs Debian's chromium and chromium-driver:"
        " apt-get install -y chromium chromium-driver"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--window-size={window}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def show_trial_runs(browser, base: str, experiment_id: str, expected: int, timeout=90):
    """Open the experiment's runs, unfold the parent; returns the run names listed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/#/experiments/{experiment_id}/runs")
    wait = WebDriverWait(browser, timeout)
    links = (By.CSS_SELECTOR, "a[href*='/runs/']")
    wait.until(expected_conditions.presence_of_element_located(links))
    # Child runs are folded under their parent: its name cell has the unfold button.
    unfold = (By.CSS_SELECTOR, "button[data-component-id*='runnamecellrenderer']")
    wait.until(expected_conditions.element_to_be_clickable(unfold)).click()
    wait.until(lambda b: len(b.find_elements(*links)) >= expected)
    return sorted(link.text for link in browser.find_elements(*links))


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A finished two-candidate grid study and ``hpsearch ui`` serving its store."""
    folder = tmp_path_factory.mktemp("ui")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        text = TINY_GRID.replace("epochs: [1, 2]", "epochs: 1").replace(
            "cv: 2", "cv: {holdout: 0.3}"
        )
        assert main(["run", str(write_study(folder, text)), "--quiet"]) == 0
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "hpsearch", "ui", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, server)
            yield base, folder
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.mark.slow
def test_ui_serves_the_study_over_its_rest_api(ui):
    base, _ = ui
    query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny-grid"
    experiment = get_json(query)["experiment"]
    runs = get_json(
        f"{base}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]}
    )["runs"]
    roles = sorted(
        tag["value"] for run in runs for tag in run["data"]["tags"] if tag["key"] == "hpsearch.role"
    )
    assert roles == ["parent", "trial", "trial"]
    parent = next(
        run for run in runs if {"key": "hpsearch.role", "value": "parent"} in run["data"]["tags"]
    )
    listing = get_json(
        f"{base}/api/2.0/mlflow/artifacts/list?run_id={parent['info']['run_id']}&path=plots"
    )
    names = {Path(entry["path"]).name for entry in listing["files"]}
    assert {"plots.html", "optimization_history.png", "slice.png"} <= names


@pytest.mark.slow
def test_chromium_lists_the_trial_runs_under_the_parent(ui, tmp_path):
    base, _ = ui
    query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny-grid"
    experiment_id = get_json(query)["experiment"]["experiment_id"]
    browser = chromium()
    try:
        names = show_trial_runs(browser, base, experiment_id, expected=3)
        assert names == ["tiny-grid", "trial-0", "trial-1"]
        screenshot = tmp_path / "runs.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        browser.quit()
