"""`make eval`: token-level precision, recall and F1 of feedpipe's clean text against hand-checked bodies,
next to raw trafilatura (default settings) on the same pages, with the known boilerplate each leaves.

Sets: fundus-eval (../shared/dev/fundus-eval, read at run time; skipped with a note when absent), our
own syndicated fixtures (tests/fixtures/syndicated), and the demo sample's wire copies (pipeline/sample, with
the seed's copies when ../shared/seed is there): those were written apart from the cleaning rules, so they are
the held-out check on the syndicated style. Scoring as in fundus-eval's README: `\\w+` tokens,
4-token shingle multisets, per-page TP/FP/FN, precision and recall averaged over pages, F1 from the means.

    python bench/eval_extract.py [--fundus PATH] [--fixtures PATH]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import trafilatura
from trafilatura.utils import decode_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from pipeline.clean import KNOWN_BOILERPLATE  # noqa: E402
from pipeline.article import article_from_document  # noqa: E402
from pipeline.sample_site import DEFAULT_SEED_PATH, SAMPLE_DIR, build_sample, parse_story  # noqa: E402

DEFAULT_FUNDUS = REPO.parent / "shared" / "dev" / "fundus-eval"
DEFAULT_FIXTURES = REPO / "tests" / "fixtures" / "syndicated"
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
    """Known boilerplate strings in the output that the expected body does not itself contain."""
    wanted = page.expected.casefold()
    markers = {*KNOWN_BOILERPLATE, *page.boilerplate}
    return sum(m.casefold() in predicted.casefold() and m.casefold() not in wanted for m in markers)


def score(pages: list[LabelledPage], extractor: Callable[[LabelledPage], str]) -> Score:
    precisions, recalls, left = [], [], 0
    for page in pages:
        predicted = extractor(page)
        precision, recall = page_precision_recall(predicted, page.expected)
        precisions.append(precision)
        recalls.append(recall)
        left += boilerplate_left(predicted, page)
    return Score(sum(precisions) / len(pages), sum(recalls) / len(pages), left)


def feedpipe_text(page: LabelledPage) -> str:
    return article_from_document(page.body, page.url).text


def trafilatura_text(page: LabelledPage) -> str:
    return trafilatura.extract(decode_file(page.body), url=page.url) or ""


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fundus", type=Path, default=DEFAULT_FUNDUS)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args(argv)
    sets = {"syndicated fixtures": list(fixture_pages(args.fixtures))} if args.fixtures.is_dir() else {}
    sets["demo sample copies"] = list(sample_copy_pages(DEFAULT_SEED_PATH))
    if (args.fundus / "ground_truth.json").exists():
        sets["fundus-eval"] = list(fundus_pages(args.fundus))
    else:
        print(f"fundus-eval not found at {args.fundus}: that set is skipped")
    print(f"{'set':<20} {'pages':>5}  {'extractor':<12} {'precision':>9} {'recall':>7} {'F1':>7} {'boilerplate left':>16}")
    shortfalls = []
    for set_name, pages in sets.items():
        if not pages:
            print(f"{set_name}: no labelled pages")
            continue
        ours, raw = score(pages, feedpipe_text), score(pages, trafilatura_text)
        for label, result in (("feedpipe", ours), ("trafilatura", raw)):
            print(f"{set_name:<20} {len(pages):>5}  {label:<12} {result.precision:>9.4f} {result.recall:>7.4f}"
                  f" {result.f1:>7.4f} {result.boilerplate_left:>16}")
        if ours.f1 < raw.f1 or ours.boilerplate_left:
            shortfalls.append(set_name)
    if shortfalls:
        print(f"feedpipe falls short of its target on: {', '.join(shortfalls)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
