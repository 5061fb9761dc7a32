import os
import subprocess
import sys
from pathlib import Path

import pgserver

from pipeline import db


def test_demo_loads_the_sample_and_a_second_batch_loads_nothing_new(postgres_home):
    home = postgres_home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {
        "FEEDPIPE_HOME": str(home), "COLUMNS": "200"}
    feedpipe = Path(sys.executable).with_name("feedpipe")

    demo = subprocess.run([str(feedpipe), "demo"], env=env, capture_output=True, text=True, timeout=300)

    assert demo.returncode == 0, demo.stderr
    first_run, second_run = demo.stdout.split("the same batch again, every feed polled:")
    assert "Articles loaded" in first_run
    assert "0 failed), " in first_run and " 0 articles loaded" not in first_run
    assert "4 feeds polled, 0 failed, 0 new entries, 0 articles loaded (0 failed), 0 bytes archived" in second_run
    assert any((home / "archive" / "raw" / "pages").rglob("*.warc.gz"))


def test_the_demo_run_twice_in_one_home_loads_the_same_rows(postgres_home):
    home = postgres_home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {"FEEDPIPE_HOME": str(home)}
    feedpipe = str(Path(sys.executable).with_name("feedpipe"))
    counts = "SELECT (SELECT count(*) FROM feeds), (SELECT count(*) FROM articles), (SELECT count(*) FROM stories)"

    rows = []
    for _ in range(2):
        demo = subprocess.run([feedpipe, "demo"], env=env, capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stderr
        url = subprocess.run([feedpipe, "db", "url"], env=env, capture_output=True, text=True, timeout=120).stdout
        conn = db.connect(url.strip())
        with conn.cursor() as cur:
            cur.execute(counts)
            rows.append(cur.fetchone())
        conn.close()
        pgserver.get_server(home / "pg").cleanup()

    assert rows[0] == rows[1] and rows[0][1] > 0
