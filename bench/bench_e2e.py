"""End-to-end benchmark: `feedpipe run` over a loopback news site against raw trafilatura, in the same run.

The site (bench/loopback_news.py) is built at run time from real pages: --articles articles (a fifth of them
syndicated copies) in --feeds feeds on --hosts loopback hosts. The benchmark goes in --rounds rounds, each of
them raw `trafilatura.extract` over every page in this process (the baseline), then `feedpipe run` as a
subprocess (per-domain delay 0, private addresses allowed) into a fresh embedded Postgres with a local archive
folder, then the same batch on top of --preload articles already stored (a copy of one database loaded with bulk
SQL: articles, stories, dedupe keys, learned-boilerplate counters, entries; every round's copy is made and
flushed before the first round), those two in the other order in even rounds, so that neither kind always runs
first after a baseline; a last baseline closes the rounds.
Then feedpipe runs --large articles, one more base run after it, and the base batch with an S3 archive on a moto
server.

Why rounds: the machine's speed swings by 20-40% within minutes, and a target that compares two runs minutes
apart judges the swing as much as the code. Each target therefore compares runs taken side by side: the ratio
to trafilatura is each round's base run against the baselines just before and after it, the preloaded batch is
each round's against that round's base run, and the large run is against the nearest base runs before and
after it. A round's figure is one measurement; the target is judged on the median of the rounds.

While feedpipe runs, its process tree (main, crawler, process workers) and Postgres' processes are sampled with
psutil for memory (RSS and PSS) and CPU time. Time per stage comes from `ingest_runs.stage_seconds` where the
schema has it. Prints a table and pass/miss per target, writes bench/results/latest.json and
bench/results/throughput.png. Exits 1 when a measured target is missed.

    python bench/bench_e2e.py [--articles 2000] [--large 20000] [--preload 200000] [--rounds 3]
                              [--feeds 50] [--hosts 10] [--no-s3]
    python bench/bench_e2e.py --articles 200 --large 0 --preload 0 --rounds 1 --no-s3     # a quick check
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import loopback_news  # noqa: E402  (bench/ is this script's folder)
import preload_sql  # noqa: E402
from pipeline import db  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
FEEDPIPE = Path(sys.executable).parent / "feedpipe"
SAMPLE_SECONDS = 0.5
PSS_EVERY = 4  # samples: every 2 s
STAGES = ("poll", "fetch", "parse", "archive", "extract", "clean", "normalize", "dedupe", "load")  # print order
TARGET_RATIO_TO_TRAFILATURA = 1.5
TARGET_FLAT_RATE = 0.9
TARGET_PEAK_MB = 1024
TARGET_PEAK_GROWTH = 1.2
S3_BUCKET = "feedpipe-bench"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class Baseline:
    pages: int
    seconds: float
    cpu_seconds: float  # of this process over the extract calls: the cost per page whatever the machine's load

    @property
    def rate(self) -> float:
        return self.pages / self.seconds

    @classmethod
    def pooled(cls, *measures: "Baseline") -> "Baseline":
        """Measures pooled: the two just before and just after a round split the machine's drift over the round
        between them, where one measure taken before it would land all of it on the ratio."""
        return cls(sum(m.pages for m in measures), sum(m.seconds for m in measures),
                   sum(m.cpu_seconds for m in measures))


@dataclass
class ProcessSample:
    """Peak memory and the last CPU times seen, over the processes of one group (feedpipe or Postgres).

    PSS is what the memory targets judge: feedpipe's children fork from one server and share its pages, which a
    sum of RSS counts once per process (about 480 MB too much at 2,000 articles), while PSS splits each shared
    page between its sharers, so the PSS of a group is the memory it uses. RSS (from /proc/PID/statm) is read at
    every sample; PSS needs /proc/PID/smaps_rollup, whose reading cost the benchmark about 4 s of CPU over a 45 s
    run when taken every half second (CPU the measured run then lacked), so it is read every PSS_EVERY-th sample."""

    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    most_processes: int = 0
    cpu_seconds: dict[int, float] = field(default_factory=dict)
    samples: int = 0

    def add(self, processes: list[psutil.Process]) -> None:
        with_pss = self.samples % PSS_EVERY == 0
        self.samples += 1
        rss = pss = 0
        for process in processes:
            try:
                with process.oneshot():
                    memory = process.memory_full_info() if with_pss else process.memory_info()
                    times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss += memory.rss
            pss += getattr(memory, "pss", memory.rss)
            self.cpu_seconds[process.pid] = times.user + times.system
        self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
        if with_pss:
            self.peak_pss_mb = max(self.peak_pss_mb, pss / 2**20)
        self.most_processes = max(self.most_processes, len(processes))


@dataclass
class RunFigures:
    label: str  # unique: "folder 1", "preloaded 1", ..., "large", "folder after large", "s3"
    kind: str  # "folder" (the base batch, fresh database), "preloaded", "large" or "s3"
    round: int | None  # the round it belongs to, for the base and preloaded runs
    archive: str
    batch: int  # articles the run had to load
    preloaded: int
    loaded: int
    failed: int
    seconds: float
    feedpipe_peak_rss_mb: float
    feedpipe_peak_pss_mb: float
    feedpipe_processes: int
    feedpipe_cpu_seconds: float
    postgres_peak_rss_mb: float
    postgres_peak_pss_mb: float
    postgres_cpu_seconds: float
    stage_seconds: dict[str, float] | None
    load_average: tuple[float, float, float]
    trafilatura_rate: float = 0.0  # the baseline nearest the run (see assign_baselines); set once all are measured

    @property
    def rate(self) -> float:
        return self.loaded / self.seconds if self.seconds else 0.0


def pooled_rate(runs: list[RunFigures]) -> float:
    return sum(run.loaded for run in runs) / sum(run.seconds for run in runs)


def trafilatura_baseline(site: loopback_news.Site, limit: int) -> Baseline:
    """Raw trafilatura.extract over the site's pages in this process; only the extract calls are timed."""
    import trafilatura

    seconds = cpu_seconds = 0.0
    files = site.page_files()[:limit]
    for path in files:
        html = path.read_text(encoding="utf-8")
        started, cpu_started = time.perf_counter(), time.process_time()
        trafilatura.extract(html)
        seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started
    return Baseline(len(files), seconds, cpu_seconds)


def postmaster_processes(pgdata: Path) -> list[psutil.Process]:
    try:
        postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
        return [postmaster, *postmaster.children()]
    except (OSError, ValueError, psutil.NoSuchProcess):
        return []


def run_feedpipe(label: str, kind: str, site: loopback_news.Site, port: int, workdir: Path, round_: int | None = None,
                 preloaded: int = 0, database: tuple[str, Path] | None = None,
                 s3_endpoint: str | None = None) -> RunFigures:
    """One `feedpipe run --all` over the site into a fresh (or the given) embedded Postgres, sampled meanwhile."""
    home = workdir / label.replace(" ", "-")
    home.mkdir(parents=True)
    database_url, pgdata = database or fresh_database(home)
    feeds_file = home / "feeds.yaml"
    feeds_file.write_text("feeds:\n" + "".join(f"  - url: {url}\n" for url in site.feed_urls(port)))
    archive = f"s3://{S3_BUCKET}/{label}" if s3_endpoint else (home / "archive").as_uri()
    command = [str(FEEDPIPE), "run", "--feeds", str(feeds_file), "--all", "--allow-private-addresses",
               "--database-url", database_url, "--archive-url", archive, "--home", str(home)]
    if s3_endpoint:
        command += ["--s3-endpoint-url", s3_endpoint]
    env = {**os.environ, "FEEDPIPE_PER_DOMAIN_DELAY": "0", **(S3_CREDENTIALS if s3_endpoint else {})}
    postgres_before = ProcessSample()
    postgres_before.add(postmaster_processes(pgdata))
    feedpipe, postgres = ProcessSample(), ProcessSample()
    started = time.perf_counter()
    with open(home / "feedpipe.log", "wb") as log:
        main = psutil.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while main.poll() is None:
                try:
                    feedpipe.add([main, *main.children(recursive=True)])
                except psutil.NoSuchProcess:
                    pass
                postgres.add(postmaster_processes(pgdata))
                time.sleep(SAMPLE_SECONDS)
        finally:
            stop_tree(main)
    seconds = time.perf_counter() - started
    if main.returncode != 0:
        raise SystemExit(f"feedpipe run ({label}) exited {main.returncode}; see {home / 'feedpipe.log'}:\n"
                         + (home / "feedpipe.log").read_text()[-3000:])
    loaded, failed, stage_seconds = run_counters(database_url)
    if database is None:  # stopped now, so that its autovacuum and checkpoints fall in no later run
        stop_databases([pgdata])
    if loaded == 0:
        raise SystemExit(f"feedpipe run ({label}) loaded no article; see {home / 'feedpipe.log'}")
    postgres_cpu = sum(seconds_used - postgres_before.cpu_seconds.get(pid, 0.0)
                       for pid, seconds_used in postgres.cpu_seconds.items())
    return RunFigures(
        label=label, kind=kind, round=round_, archive="s3" if s3_endpoint else "folder", batch=site.articles,
        preloaded=preloaded, loaded=loaded, failed=failed, seconds=seconds,
        feedpipe_peak_rss_mb=feedpipe.peak_rss_mb, feedpipe_peak_pss_mb=feedpipe.peak_pss_mb,
        feedpipe_processes=feedpipe.most_processes, feedpipe_cpu_seconds=sum(feedpipe.cpu_seconds.values()),
        postgres_peak_rss_mb=postgres.peak_rss_mb, postgres_peak_pss_mb=postgres.peak_pss_mb,
        postgres_cpu_seconds=postgres_cpu, stage_seconds=stage_seconds, load_average=os.getloadavg(),
    )


def stop_tree(main: psutil.Popen) -> None:
    """Stop feedpipe and its children if the benchmark is interrupted while it runs (a no-op once it exited)."""
    if main.poll() is not None:
        return
    processes = [main, *main.children(recursive=True)]
    for process in processes:
        process.terminate()
    psutil.wait_procs(processes, timeout=10)


DATABASES: list[Path] = []  # the embedded servers' data folders, stopped before the work folder is removed


def fresh_database(folder: Path) -> tuple[str, Path]:
    url = db.embedded_database_url(folder)
    db.migrate(url)
    DATABASES.append(folder / "pg")
    return url, folder / "pg"


def database_url_named(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def server_command(url: str, statement: str) -> None:
    """A statement that runs outside a transaction (CREATE or DROP DATABASE), from the server's template1."""
    conn = db.connect(database_url_named(url, "template1"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def copy_database(url: str, copy: str) -> str:
    """A copy of the database at `url` (with no one connected to it) in the same server, made by copying its
    files; returns the copy's URL. Each preloaded batch gets its own copy of the one database preloaded."""
    server_command(url, f'CREATE DATABASE "{copy}" TEMPLATE "{database_name(url)}" STRATEGY FILE_COPY')
    return database_url_named(url, copy)


def settled_copies(url: str, count: int) -> list[str]:
    """`count` copies of the database at `url`, one per round, made before any measured run and flushed to disk.

    Each copy writes the whole database (3.2 GB at 200,000 articles). Made just before its round's batch, that
    write fell into the batch it was made for; made here, it settles while the large site is built."""
    started = time.perf_counter()
    copies = [copy_database(url, f"batch_{number}") for number in range(1, count + 1)]
    os.sync()
    print(f"copied the stored database {count} times in {time.perf_counter() - started:.0f} s")
    return copies


def drop_database(url: str) -> None:
    server_command(url, f'DROP DATABASE "{database_name(url)}" WITH (FORCE)')


def stop_databases(folders: list[Path]) -> None:
    """Fast shutdown (SIGINT) of the embedded servers with these data folders (those still running)."""
    postmasters = [processes[0] for processes in map(postmaster_processes, folders) if processes]
    for postmaster in postmasters:
        postmaster.send_signal(signal.SIGINT)
    psutil.wait_procs(postmasters, timeout=30)


def run_counters(database_url: str) -> tuple[int, int, dict[str, float] | None]:
    """Articles loaded and failed by the last run, and its seconds per stage (None before the schema has them)."""
    conn = db.connect(database_url)
    try:
        with db.transaction(conn) as cur:
            cur.execute("""SELECT count(*) FROM information_schema.columns
                           WHERE table_name = 'ingest_runs' AND column_name = 'stage_seconds'""")
            has_stages = cur.fetchone()[0] == 1
            stage_column = "stage_seconds" if has_stages else "NULL"
            cur.execute(f"SELECT articles_loaded, articles_failed, {stage_column} FROM ingest_runs "
                        "ORDER BY id DESC LIMIT 1")
            loaded, failed, stages = cur.fetchone()
    finally:
        conn.close()
    return loaded, failed, stages


def preload(database_url: str, site: loopback_news.Site, port: int, count: int) -> float:
    """Store `count` articles with bulk SQL, as the per-article path would have left them; returns seconds.

    Every table the per-article path reads gets realistic rows: the site's feeds with loaded entries, articles
    of the site's publishers (one story and one assignment each), 28 dedupe keys per article, and the learned-
    boilerplate counters (each article seen with three of 40 recurring lines of its publisher and two lines of
    its own, within the learning window)."""
    started = time.perf_counter()
    preload_sql.load(database_url, site.feed_urls(port), [site.host(n) for n in range(site.hosts)], count)
    return time.perf_counter() - started


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **{
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"]})
    deadline = time.monotonic() + 30
    while True:
        try:
            client.create_bucket(Bucket=S3_BUCKET)
            return server, endpoint
        except Exception:  # not listening yet
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.3)


def per_article_stages(run: RunFigures) -> str:
    if not run.stage_seconds or not run.loaded:
        return "n/a"
    stages = [stage for stage in STAGES if stage in run.stage_seconds]
    stages += sorted(set(run.stage_seconds) - set(STAGES))
    return ", ".join(f"{stage} {1000 * float(run.stage_seconds[stage]) / run.loaded:.1f}" for stage in stages)


def print_runs(baselines: list[Baseline], pooled: Baseline, runs: list[RunFigures]) -> None:
    print("raw trafilatura.extract, one process: " + "; ".join(f"{measure.rate:.1f}" for measure in baselines)
          + f" pages/s in turn; {1000 * pooled.cpu_seconds / pooled.pages:.0f} ms CPU per page")
    print(f"{'run':<22} {'archive':<7} {'preloaded':>9} {'loaded':>7} {'failed':>6} {'seconds':>8} {'art/s':>6} "
          f"{'traf/s':>6} {'x traf':>6} {'cores':>5} {'feedpipe MB rss/pss':>19} {'procs':>5} "
          f"{'postgres MB rss/pss':>19} {'ms CPU/art fp/pg':>16} {'load':>5}")
    for run in runs:
        cores = (run.feedpipe_cpu_seconds + run.postgres_cpu_seconds) / run.seconds
        per_article = f"{1000 * run.feedpipe_cpu_seconds / max(run.loaded, 1):.0f}/" \
                      f"{1000 * run.postgres_cpu_seconds / max(run.loaded, 1):.0f}"
        print(f"{run.label:<22} {run.archive:<7} {run.preloaded:>9,} {run.loaded:>7,} {run.failed:>6} "
              f"{run.seconds:>8.1f} {run.rate:>6.1f} {run.trafilatura_rate:>6.1f} "
              f"{run.rate / run.trafilatura_rate:>6.2f} {cores:>5.2f} "
              f"{run.feedpipe_peak_rss_mb:>9.0f}/{run.feedpipe_peak_pss_mb:<9.0f} {run.feedpipe_processes:>5} "
              f"{run.postgres_peak_rss_mb:>9.0f}/{run.postgres_peak_pss_mb:<9.0f} {per_article:>16} "
              f"{run.load_average[0]:>5.1f}")
    print("time per stage per article (ms):")
    for run in runs:
        print(f"  {run.label}: {per_article_stages(run)}")


def neighbours(runs: list[RunFigures], run: RunFigures, kind: str) -> list[RunFigures]:
    """The nearest runs of `kind` before and after `run` in the order they ran (one, or none, at an end)."""
    at = runs.index(run)
    before = [other for other in runs[:at] if other.kind == kind][-1:]
    after = [other for other in runs[at + 1:] if other.kind == kind][:1]
    return before + after


def targets(runs: list[RunFigures]) -> list[dict]:
    """Each target with its figure (the median over rounds where there are rounds, and each round's figure beside
    it) and pass/miss; a run that was not made is not judged."""
    base_runs = [run for run in runs if run.kind == "folder" and run.round is not None]
    preloaded = {run.round: run for run in runs if run.kind == "preloaded"}
    large = [run for run in runs if run.kind == "large"]
    checks = []
    if base_runs:
        ratios = [run.rate / run.trafilatura_rate for run in base_runs]
        checks.append((f"feedpipe articles/s >= {TARGET_RATIO_TO_TRAFILATURA}x trafilatura (each round's base run "
                       "against the baselines around it)", ratios, TARGET_RATIO_TO_TRAFILATURA))
    paired = [(preloaded[run.round], run) for run in base_runs if run.round in preloaded]
    if paired:
        checks.append((f"a batch on {paired[0][0].preloaded:,} stored >= {TARGET_FLAT_RATE}x the "
                       f"{paired[0][1].batch:,}-article run (each round's, on the same round's)",
                       [stored.rate / fresh.rate for stored, fresh in paired], TARGET_FLAT_RATE))
    for run in large:
        around = neighbours(runs, run, "folder")
        if around:
            checks.append((f"the {run.batch:,}-article run >= {TARGET_FLAT_RATE}x the {around[0].batch:,}-article "
                           "runs just before and after it", [run.rate / pooled_rate(around)], TARGET_FLAT_RATE))
    judged = []
    for name, figures, target in checks:
        median = statistics.median(figures)
        judged.append((name, median, figures, median >= target))
    for run in runs:
        judged.append((f"{run.label}: feedpipe peak memory (PSS, all its processes) < 1 GB",
                       run.feedpipe_peak_pss_mb, [run.feedpipe_peak_pss_mb], run.feedpipe_peak_pss_mb < TARGET_PEAK_MB))
    base_peaks = [run.feedpipe_peak_pss_mb for run in runs if run.kind == "folder"]
    for run in large:
        if base_peaks:
            growth = run.feedpipe_peak_pss_mb / statistics.median(base_peaks)
            judged.append((f"the {run.batch:,}-article run's peak <= {TARGET_PEAK_GROWTH}x the base runs' (median)",
                           growth, [growth], growth <= TARGET_PEAK_GROWTH))
    return [{"target": name, "figure": round(figure, 3), "each": [round(one, 3) for one in each], "pass": ok}
            for name, figure, each, ok in judged]


def plot(baseline: Baseline, runs: list[RunFigures], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for kinds, style, label in ((("folder", "large"), "C0o", "feedpipe, folder archive, fresh database"),
                                (("s3",), "C1s", "feedpipe, S3 (moto) archive, fresh database"),
                                (("preloaded",), "C2^", "feedpipe, batch on stored articles")):
        points = [(run.batch, run.rate) for run in runs if run.kind in kinds]
        if points:
            axes.plot(*zip(*points), style, label=label)
    fresh: dict[int, list[float]] = {}
    for run in runs:
        if run.kind in ("folder", "large"):
            fresh.setdefault(run.batch, []).append(run.rate)
    if len(fresh) > 1:
        axes.plot(sorted(fresh), [statistics.median(fresh[batch]) for batch in sorted(fresh)], "C0-", linewidth=0.8)
    axes.axhline(baseline.rate, color="grey", linestyle="--", label="raw trafilatura.extract, one process (pooled)")
    axes.axhline(baseline.rate * TARGET_RATIO_TO_TRAFILATURA, color="green", linestyle=":", label="target: 1.5x")
    axes.set_xscale("log")
    axes.set_xlabel("articles in the batch")
    axes.set_ylabel("articles per second")
    axes.set_ylim(bottom=0)
    axes.set_title(f"feedpipe run throughput ({psutil.cpu_count()} cores)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip()


def build_and_serve(folder: Path, articles: int, feeds: int,
                    hosts: int) -> tuple[loopback_news.Site, multiprocessing.Process, int]:
    """Build a site of `articles` pages in `feeds` feeds and serve it on `hosts` loopback hosts; returns the site,
    its server process and its port."""
    started = time.perf_counter()
    site = loopback_news.build_site(folder, articles, feeds, hosts)
    print(f"built {articles:,} pages in {feeds} feeds in {time.perf_counter() - started:.0f} s")
    return site, *loopback_news.start_server(site.folder, hosts)


def assign_baselines(runs: list[RunFigures], baselines: list[Baseline]) -> None:
    """Give each run the baseline nearest it: a round's runs the measures just before and after the round (the
    one before, if the benchmark stopped within the round), the runs after the rounds the last measure."""
    for run in runs:
        if run.round is not None:
            run.trafilatura_rate = Baseline.pooled(*baselines[run.round - 1:run.round + 1]).rate
        else:
            run.trafilatura_rate = baselines[-1].rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000, help="articles in the base run (and the baseline)")
    parser.add_argument("--large", type=int, default=20000, help="articles in the large run (0: skip)")
    parser.add_argument("--preload", type=int, default=200000,
                        help="articles stored before a batch of --articles (0: skip)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of baseline, base run and batch on the stored articles")
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--no-s3", action="store_true", help="skip the run with the S3 (moto) archive")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for latest.json and the plot")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated (SIGTERM)"))  # report what was measured

    began = time.perf_counter()
    load_at_start = os.getloadavg()
    commit = git_commit()  # the code measured, whatever the checkout holds by the end
    workdir = Path(tempfile.mkdtemp(prefix="feedpipe-bench-e2e-"))
    servers = []
    runs: list[RunFigures] = []
    baselines: list[Baseline] = []  # one before each round and one after the last
    failure = None
    try:
        site, server, port = build_and_serve(workdir / "site", args.articles, args.feeds, args.hosts)
        servers.append(server)
        if args.preload:
            stored_url, stored_pgdata = fresh_database(workdir / "preloaded-db")
            seconds = preload(stored_url, site, port, args.preload)
            print(f"preloaded {args.preload:,} articles in {seconds:.0f} s")
            round_copies = settled_copies(stored_url, args.rounds)
        if args.large:  # built after the preload's writes, so they settle before the first measured run
            large_site, large_server, large_port = build_and_serve(workdir / "large-site", args.large, args.feeds,
                                                                   args.hosts)
            servers.append(large_server)
        kinds = ["folder", "preloaded"] if args.preload else ["folder"]
        for number in range(1, args.rounds + 1):
            baselines.append(trafilatura_baseline(site, args.articles))
            print(f"round {number}: baseline {baselines[-1].rate:.1f} pages/s")
            for kind in kinds if number % 2 else reversed(kinds):  # neither kind always first after a baseline
                if kind == "folder":
                    runs.append(run_feedpipe(f"folder {number}", "folder", site, port, workdir, number))
                else:
                    copy_url = round_copies[number - 1]
                    runs.append(run_feedpipe(f"preloaded {number}", "preloaded", site, port, workdir, number,
                                             args.preload, database=(copy_url, stored_pgdata)))
                    drop_database(copy_url)
                print(f"round {number}: {runs[-1].label} {runs[-1].rate:.1f} articles/s")
        baselines.append(trafilatura_baseline(site, args.articles))
        print(f"baseline after the rounds: {baselines[-1].rate:.1f} pages/s")
        if args.large:
            runs.append(run_feedpipe("large", "large", large_site, large_port, workdir))
            print(f"large: {runs[-1].rate:.1f} articles/s")
            runs.append(run_feedpipe("folder after large", "folder", site, port, workdir))
            print(f"folder after large: {runs[-1].rate:.1f} articles/s")
        if not args.no_s3:
            moto, endpoint = start_moto()
            try:
                runs.append(run_feedpipe("s3", "s3", site, port, workdir, s3_endpoint=endpoint))
            finally:
                moto.terminate()
            print(f"s3: {runs[-1].rate:.1f} articles/s")
    except (Exception, SystemExit) as error:  # report what was measured before it
        failure = str(error)
        print(f"benchmark stopped: {failure}", file=sys.stderr)
    finally:
        for server in servers:
            server.terminate()
        stop_databases(DATABASES)
        shutil.rmtree(workdir, ignore_errors=True)
    total_seconds = time.perf_counter() - began

    if not runs:
        return 1
    assign_baselines(runs, baselines)
    pooled = Baseline.pooled(*baselines)
    print_runs(baselines, pooled, runs)
    checks = targets(runs)
    for check in checks:
        each = f" (each: {', '.join(map(str, check['each']))})" if len(check["each"]) > 1 else ""
        print(f"{'PASS' if check['pass'] else 'MISS'}  {check['target']}: {check['figure']}{each}")
    print(f"whole benchmark: {total_seconds:.0f} s; load average at start {load_at_start[0]:.1f}, "
          f"at end {os.getloadavg()[0]:.1f}")
    args.results.mkdir(parents=True, exist_ok=True)
    plot(pooled, runs, args.results / "throughput.png")
    (args.results / "latest.json").write_text(json.dumps({
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": {"cores": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "load_average_at_start": load_at_start,
                    "load_average_at_end": os.getloadavg()},
        "settings": vars(args) | {"results": str(args.results)},
        "total_seconds": round(total_seconds, 1),
        "trafilatura_baseline": asdict(pooled) | {"rate": pooled.rate,
                                                  "in_turn": [asdict(measure) | {"rate": measure.rate}
                                                              for measure in baselines]},
        "runs": [asdict(run) | {"rate": run.rate} for run in runs],
        "targets": checks,
        "stopped_by": failure,
    }, indent=2) + "\n")
    return 0 if failure is None and all(check["pass"] for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
