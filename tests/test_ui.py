"""``hpsearch ui`` serves MLflow's UI on the project's store, bound to 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from conftest import TINY_GRID, write_study
from hpsearch.cli import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ui_serves_the_study(workdir):
    text = TINY_GRID.replace("units: [4, 6]", "units: [4]").replace("epochs: [1, 2]", "epochs: 1")
    assert main(["run", str(write_study(workdir, text)), "--quiet"]) == 0
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "the UI did not come up"
                time.sleep(0.5)
        query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny-grid"
        with urllib.request.urlopen(query, timeout=10) as response:
            experiment = json.load(response)["experiment"]
        body = json.dumps({"experiment_ids": [experiment["experiment_id"]]}).encode()
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            runs = json.load(response)["runs"]
        roles = sorted(
            tag["value"]
            for run in runs
            for tag in run["data"]["tags"]
            if tag["key"] == "hpsearch.role"
        )
        assert roles == ["parent", "trial"]
    finally:
        server.terminate()
        server.wait(timeout=30)
