"""`make airflow`: the DAGs in `airflow standalone` on the embedded Postgres, reachable and healthy, and gone
without a trace when stopped."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable

from tests.airflow_support import REPO, healthy, leftover_processes, start_process, wait_for
from tests.conftest import free_port


def test_make_airflow_serves_a_healthy_airflow_and_stops_cleanly(postgres_home: Callable[[], Path]):
    home = postgres_home()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDPIPE_"))} | {
        "FEEDPIPE_HOME": str(home), "FEEDPIPE_AIRFLOW_PORT": str(port)}
    log = home / "make-airflow.log"
    started = time.monotonic()
    make = start_process(["make", "--no-print-directory", "-C", str(REPO), "airflow"], env, log)
    try:
        report = wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), timeout=420, what="a healthy Airflow")
        print(f"make airflow healthy after {time.monotonic() - started:.0f} s")
    finally:
        os.killpg(make.pid, signal.SIGTERM)  # make and the launcher, which stops standalone's own session
        leftovers = leftover_processes(str(home), timeout=120)

    assert report["metadatabase"]["status"] == "healthy"
    output = log.read_text()
    assert f"Airflow UI: http://localhost:{port}" in output
    assert str(home / "airflow" / "simple_auth_manager_passwords.json.generated") in output
    assert leftovers == []
