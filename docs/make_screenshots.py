"""Screenshots of the MLflow UI for the docs, taken the way the UI test browses it.

    python docs/make_screenshots.py FOLDER STUDY [--out docs/img]

FOLDER holds the ``mlruns/`` of a finished study (run ``python -m hpsearch run
studies/quickstart.yaml`` there first). Serves it with ``hpsearch ui``, opens it in
headless Chromium (Debian's chromium and chromium-driver) and writes:

- ``ui-runs.png``: the study's parent run with its trial runs unfolded;
- ``ui-trial-curves.png``: the best trial's per-epoch curves;
- ``ui-plots.png``: the parent run's ``plots/plots.html`` (Optuna's plots).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_ui import chromium, free_port, get_json, show_trial_runs, wait_until_up  # noqa: E402


def tidy(browser) -> None:
    """The classic "Model training" view, without the assistant's side panel."""
    from selenium.webdriver.common.by import By

    for text in ("Model training",):
        for element in browser.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']"):
            if element.is_displayed():
                element.click()
                break
    for button in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        if button.is_displayed():
            button.click()
    time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("study")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    arguments = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "ui", "--port", str(port)],
        cwd=arguments.folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    browser = None
    try:
        wait_until_up(base, server)
        query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={arguments.study}"
        experiment_id = get_json(query)["experiment"]["experiment_id"]
        runs = get_json(f"{base}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]})
        tags = {
            run["info"]["run_id"]: {t["key"]: t["value"] for t in run["data"]["tags"]}
            for run in runs["runs"]
        }
        parent = next(run_id for run_id, t in tags.items() if t["hpsearch.role"] == "parent")
        best = tags[parent]["hpsearch.best_run_id"]

        browser = chromium("1600,1000")
        show_trial_runs(browser, base, experiment_id, expected=len(tags))
        tidy(browser)
        arguments.out.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(arguments.out / "ui-runs.png"))
        browser.get(f"{base}/#/experiments/{experiment_id}/runs/{best}/model-metrics")
        time.sleep(6)
        tidy(browser)
        browser.save_screenshot(str(arguments.out / "ui-trial-curves.png"))
        browser.get(
            f"{base}/#/experiments/{experiment_id}/runs/{parent}/artifacts/plots/plots.html"
        )
        time.sleep(8)
        tidy(browser)
        browser.save_screenshot(str(arguments.out / "ui-plots.png"))
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote ui-runs.png, ui-trial-curves.png, ui-plots.png to {arguments.out}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
