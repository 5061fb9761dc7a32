"""`make eval`: feedpipe's clean text against raw trafilatura (default settings) on the same pages, with
the known boilerplate each leaves and what each costs per page.

Sets: fundus-eval and trafilatura-eval (../shared/dev/, read at run time; each skipped with a note when
absent), our own syndicated fixtures (tests/fixtures/syndicated), and the demo sample's wire copies
(pipeline/sample, with the seed's copies when ../shared/seed is there): those were written apart from the
cleaning rules, so they are the held-out check on the syndicated style. Labelled bodies are scored as in
fundus-eval's README: `\\w+` tokens, 4-token shingle multisets, per-page TP/FP/FN, precision and recall
averaged over pages, F1 from the means. trafilatura-eval is scored by its own score.py (snippets that must
and must not appear). See bench/README.md for the rows.

    python bench/eval_extract.py [--fundus PATH] [--trafilatura-eval PATH] [--fixtures PATH]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import trafilatura
from trafilatura.external import jt_stoplist_init
from trafilatura.utils import decode_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from pipeline.article import article_from_document  # noqa: E402
from pipeline.clean import boilerplate_markers_left  # noqa: E402
from pipeline.extract import UnreadableDocument  # noqa: E402
from pipeline.normalize import Article  # noqa: E402
from pipeline.template import DEFAULT_TEMPLATE_POLICY, TemplatePolicy  # noqa: E402
from pipeline.sample_site import DEFAULT_SEED_PATH, SAMPLE_DIR, build_sample, parse_story  # noqa: E402

DEFAULT_FUNDUS = REPO.parent / "shared" / "dev" / "fundus-eval"
DEFAULT_TRAFILATURA_EVAL = REPO.parent / "shared" / "dev" / "trafilatura-eval"
DEFAULT_FIXTURES = REPO / "tests" / "fixtures" / "syndicated"
T = TypeVar("T")
TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class LabelledPage:
    name: str
    body: bytes
    url: str | None
    expected: str
    boilerplate: tuple[str, ...]


@dataclass
class Score:
    precision: float
    recall: float
    boilerplate_left: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def shingles(text: str, size: int = 4) -> Counter:
    tokens = TOKEN.findall(text)
    return Counter(tuple(tokens[i:i + size]) for i in range(max(len(tokens) - size + 1, 0)))


def page_precision_recall(predicted: str, expected: str) -> tuple[float, float]:
    true, pred = shingles(expected), shingles(predicted)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    precision = tp / (tp + fp) if tp + fp else (1.0 if not true else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def boilerplate_left(predicted: str, page: LabelledPage) -> int:
    """Known boilerplate markers (as `boilerplate_markers_left` finds them) and the page's own unwanted strings in the
    output, but for those the expected body itself contains."""
    return markers_left(predicted, page.expected) + sum(
        m.casefold() in predicted.casefold() and m.casefold() not in page.expected.casefold()
        for m in page.boilerplate)


def markers_left(predicted: str, expected: str) -> int:
    """Known boilerplate markers left in the output that the expected text does not itself carry."""
    wanted = expected.casefold()
    return sum(marker.casefold() not in wanted for marker in boilerplate_markers_left(predicted))


@dataclass
class Timing:
    """CPU seconds spent per extractor over the same pages."""

    feedpipe: float = 0.0
    trafilatura: float = 0.0
    pages: int = 0

    @property
    def ratio(self) -> float:
        return self.feedpipe / self.trafilatura if self.trafilatura else 0.0


def timed(clock: list[float], run: Callable[[], T]) -> T:
    started = time.process_time()
    result = run()
    clock[0] += time.process_time() - started
    return result


def score(pages: list[LabelledPage], texts: list[str]) -> Score:
    precisions, recalls, left = [], [], 0
    for page, predicted in zip(pages, texts):
        precision, recall = page_precision_recall(predicted, page.expected)
        precisions.append(precision)
        recalls.append(recall)
        left += boilerplate_left(predicted, page)
    return Score(sum(precisions) / len(pages), sum(recalls) / len(pages), left)


def rebuildable_text(article: Article) -> str:
    """What a consumer can rebuild from the row: the dateline as printed, the body, then the credit lines."""
    dateline = [r.text for r in article.removed if r.rule == "dateline"]
    credits = [r.text for r in article.removed if r.rule == "agency_credit"]
    return "\n\n".join([*dateline, *article.paragraphs, *credits])


def trafilatura_text(body: bytes, url: str | None) -> str:
    return trafilatura.extract(decode_file(body), url=url) or ""


def learned_templates(sightings: list[list[int]], policy: TemplatePolicy = DEFAULT_TEMPLATE_POLICY) -> set[int]:
    """The template blocks Postgres would have learned from these pages of one publisher (each page's
    `template_fingerprints`), under the same policy as pipeline.learned.record_template_blocks."""
    counts = Counter(f for prints in sightings for f in set(prints))
    needed = max(policy.min_articles, policy.min_share * len(sightings))
    return {f for f, count in counts.items() if count >= needed}


def publisher_of(page: LabelledPage) -> str:
    return page.name.rsplit("_", 1)[0]


@dataclass
class LabelledRun:
    """feedpipe's and raw trafilatura's output on one labelled set, and what they cost."""

    body: list[str]
    rebuildable: list[str]
    with_templates: list[str]
    trafilatura: list[str]
    timing: Timing


def run_labelled(pages: list[LabelledPage], learn_templates: bool) -> LabelledRun:
    """Each page through both extractors (timed); with `learn_templates`, each page again with the template
    blocks learned from the other pages of its publisher (as if they had been loaded before it)."""
    ours, raw = [0.0], [0.0]
    articles, raw_texts = [], []
    for page in pages:
        raw_texts.append(timed(raw, lambda: trafilatura_text(page.body, page.url)))
        articles.append(timed(ours, lambda: article_from_document(page.body, page.url)))
    with_templates = [a.text for a in articles]
    if learn_templates:
        for index, page in enumerate(pages):
            others = [a.template_fingerprints for i, (p, a) in enumerate(zip(pages, articles))
                      if i != index and publisher_of(p) == publisher_of(page)]
            templates = learned_templates(others)
            if templates:
                with_templates[index] = rebuildable_text(article_from_document(page.body, page.url, templates=templates))
            else:
                with_templates[index] = rebuildable_text(articles[index])
    return LabelledRun(
        body=[a.text for a in articles],
        rebuildable=[rebuildable_text(a) for a in articles],
        with_templates=with_templates,
        trafilatura=raw_texts,
        timing=Timing(ours[0], raw[0], len(pages)),
    )


@dataclass(frozen=True)
class SnippetPage:
    file: str
    body: bytes
    url: str | None
    item: dict


@dataclass
class SnippetScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, counts: tuple[int, int, int, int]) -> None:
        self.tp, self.fp, self.fn, self.tn = (a + b for a, b in zip((self.tp, self.fp, self.fn, self.tn), counts))

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def trafilatura_eval_pages(folder: Path) -> Iterator[SnippetPage]:
    for item in json.loads((folder / "expectations.json").read_text(encoding="utf-8")):
        url = item["url"] if item["url"].startswith(("http://", "https://")) else None
        yield SnippetPage(item["file"], (folder / item["file"]).read_bytes(), url, item)


def load_snippet_scorer(folder: Path) -> Callable[[dict, str | None], tuple[int, int, int, int]]:
    """The set's own `count_item` from its score.py, so both extractors are scored exactly as the set says."""
    spec = importlib.util.spec_from_file_location("trafilatura_eval_score", folder / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.count_item


@dataclass
class SnippetRun:
    """feedpipe (body, and rebuildable as in `rebuildable_text`) and raw trafilatura on trafilatura-eval."""

    body: SnippetScore
    rebuildable: SnippetScore
    trafilatura: SnippetScore
    body_left: int
    trafilatura_left: int
    timing: Timing


def run_snippets(folder: Path) -> SnippetRun:
    count_item = load_snippet_scorer(folder)
    body, rebuildable, raw = SnippetScore(), SnippetScore(), SnippetScore()
    ours_clock, raw_clock = [0.0], [0.0]
    body_left = raw_left = pages = 0
    for page in trafilatura_eval_pages(folder):
        raw_text = timed(raw_clock, lambda: trafilatura_text(page.body, page.url))
        try:
            article = timed(ours_clock, lambda: article_from_document(page.body, page.url))
            text, rebuilt = article.text, rebuildable_text(article)
        except UnreadableDocument:
            text = rebuilt = None
        body.add(count_item(page.item, text))
        rebuildable.add(count_item(page.item, rebuilt))
        raw.add(count_item(page.item, raw_text))
        wanted = " ".join(page.item["with"])
        body_left += markers_left(text or "", wanted)
        raw_left += markers_left(raw_text, wanted)
        pages += 1
    return SnippetRun(body, rebuildable, raw, body_left, raw_left, Timing(ours_clock[0], raw_clock[0], pages))


def fundus_pages(folder: Path) -> Iterator[LabelledPage]:
    truth = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    for name, item in sorted(truth.items()):
        yield LabelledPage(name, (folder / "html" / name).read_bytes(), item.get("url"), "\n\n".join(item["body"]), ())


def fixture_pages(folder: Path) -> Iterator[LabelledPage]:
    for expected_file in sorted(folder.glob("*.json")):
        item = json.loads(expected_file.read_text(encoding="utf-8"))
        page = expected_file.with_suffix(".html")
        yield LabelledPage(page.name, page.read_bytes(), item["url"], "\n\n".join(item["body"]),
                           tuple(item.get("boilerplate", ())))


SAMPLE_BASE_URL = "http://sample.feedpipe.test"


def sample_copy_pages(seed_path: Path) -> Iterator[LabelledPage]:
    """Every wire copy in the demo sample, expected to come out as the wire's own paragraphs (the first `keep`
    of them for a trimmed copy)."""
    seed_text = seed_path.read_text(encoding="utf-8") if seed_path.exists() else None
    sample = build_sample(SAMPLE_BASE_URL, seed_text)
    manifest = yaml.safe_load((SAMPLE_DIR / "manifest.yaml").read_text(encoding="utf-8"))
    stories = [(parse_story((SAMPLE_DIR / w["text"]).read_text(encoding="utf-8"), w["text"]), w["copies"])
               for w in manifest["wire_stories"]]
    if seed_text is not None:
        stories.append((parse_story(seed_text, "seed"), [manifest["seed"]["original"], *manifest["seed"]["copies"]]))
    for story, copies in stories:
        for copy in copies:
            expected = "\n\n".join(story.paragraphs[: copy.get("keep", len(story.paragraphs))])
            yield LabelledPage(copy["path"], sample.documents[copy["path"]].body, SAMPLE_BASE_URL + copy["path"],
                               expected, ())


ROW = "{:<26} {:>5}  {:<26} {:>9} {:>7} {:>7} {:>11}"
FUNDUS_TARGET_F1 = 0.97
SNIPPET_MARGIN = 0.02
COST_RATIO_LIMIT = 1.5


def print_row(set_name: str, pages: int, label: str, precision: float, recall: float, f1: float, left: int) -> None:
    print(ROW.format(set_name, pages, label, f"{precision:.4f}", f"{recall:.4f}", f"{f1:.4f}", left))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fundus", type=Path, default=DEFAULT_FUNDUS)
    parser.add_argument("--trafilatura-eval", type=Path, default=DEFAULT_TRAFILATURA_EVAL)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args(argv)
    # jusText's stoplists load on first use (about 0.4 s): loaded here, so neither side's timing pays for them.
    jt_stoplist_init()
    sets = {"syndicated fixtures": list(fixture_pages(args.fixtures))} if args.fixtures.is_dir() else {}
    sets["demo sample copies"] = list(sample_copy_pages(DEFAULT_SEED_PATH))
    if (args.fundus / "ground_truth.json").exists():
        sets["fundus-eval"] = list(fundus_pages(args.fundus))
    else:
        print(f"fundus-eval not found at {args.fundus}: that set is skipped")
    print(ROW.format("set", "pages", "extractor", "precision", "recall", "F1", "boilerplate"))
    shortfalls, timings = [], {}
    for set_name, pages in sets.items():
        is_fundus = set_name == "fundus-eval"
        run = run_labelled(pages, learn_templates=is_fundus)
        ours, raw = score(pages, run.body), score(pages, run.trafilatura)
        rows = [("feedpipe", ours)]
        if is_fundus:
            rebuildable, templated = score(pages, run.rebuildable), score(pages, run.with_templates)
            rows += [("feedpipe, rebuildable", rebuildable), ("feedpipe, rebuildable+tmpl", templated)]
            timings[set_name] = run.timing
            if templated.f1 < FUNDUS_TARGET_F1:
                shortfalls.append(f"{set_name} (rebuildable F1 with templates under {FUNDUS_TARGET_F1})")
        for label, result in (*rows, ("raw trafilatura", raw)):
            print_row(set_name, len(pages), label, result.precision, result.recall, result.f1, result.boilerplate_left)
        if ours.f1 < raw.f1 or ours.boilerplate_left:
            shortfalls.append(set_name)
    if (args.trafilatura_eval / "expectations.json").exists():
        snippets = run_snippets(args.trafilatura_eval)
        timings["trafilatura-eval"] = snippets.timing
        for label, result, left in (("feedpipe", snippets.body, snippets.body_left),
                                    ("feedpipe, rebuildable", snippets.rebuildable, snippets.body_left),
                                    ("raw trafilatura", snippets.trafilatura, snippets.trafilatura_left)):
            print_row("trafilatura-eval (snippets)", snippets.timing.pages, label, result.precision, result.recall,
                      result.f1, left)
        if snippets.rebuildable.f1 < snippets.trafilatura.f1 + SNIPPET_MARGIN or snippets.body_left:
            shortfalls.append(f"trafilatura-eval (under raw + {SNIPPET_MARGIN} or boilerplate left)")
    else:
        print(f"trafilatura-eval not found at {args.trafilatura_eval}: that set is skipped")
    print()
    print(f"{'cost per page (CPU)':<26} {'pages':>5}  {'feedpipe':>10} {'trafilatura':>11} {'ratio':>6}")
    for set_name, timing in timings.items():
        print(f"{set_name:<26} {timing.pages:>5}  {timing.feedpipe / timing.pages * 1000:>8.1f}ms"
              f" {timing.trafilatura / timing.pages * 1000:>9.1f}ms {timing.ratio:>6.2f}")
        if timing.ratio > COST_RATIO_LIMIT:
            shortfalls.append(f"{set_name} cost ratio over {COST_RATIO_LIMIT}")
    if shortfalls:
        print(f"feedpipe falls short of its target on: {', '.join(shortfalls)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
