"""The dedupe stage on real Postgres: wire copies join one story, different news stays apart, many workers agree."""
from __future__ import annotations

import hashlib
import multiprocessing
import random
from datetime import datetime, timedelta, timezone

import pytest

from pipeline import db, dedupe

T0 = datetime(2024, 3, 6, 10, 0, tzinfo=timezone.utc)

BARRIER_TITLE = "Port Alder council approves $240 million flood barrier after marathon session"
BARRIER = [
    "PORT ALDER — The Port Alder city council voted 7-2 early on Wednesday to build a $240 million tidal flood "
    "barrier across the mouth of the Alder estuary, ending a decade of argument over how to protect the low-lying "
    "harbour district. The vote came after a fourteen-hour session in which more than two hundred residents "
    "signed up to speak.",
    "Mayor Helena Marsh, who has made the barrier the centrepiece of her second term, called the decision a "
    "turning point for a city that has flooded four times since 2015. \"We have spent ten years talking about the "
    "water. Tonight we decided to do something about it,\" Marsh told reporters outside the council chamber.",
    "The barrier, designed by the engineering firm Van Leeuwen & Kors, would consist of six steel gates that swing "
    "shut when forecasters predict a surge higher than two metres. Construction is expected to begin next spring "
    "and take about five years.",
    "Opponents, led by councillor Raymond Okafor, argued that the cost would fall hardest on renters and that the "
    "city had not studied the effect on the estuary's salmon runs. Okafor said he would ask the state "
    "environmental board to review the plan before any contracts are signed.",
    "Fishing groups have warned that closing the gates during the autumn migration could trap young fish "
    "upstream. The design includes two permanently open channels, but the Alder Estuary Trust said in a statement "
    "that the channels were too narrow to make a difference.",
    "The project will be paid for with a mix of federal resilience grants, a new bond issue and a levy on "
    "waterfront property. City finance director Paula Grieg said the average homeowner would pay about $180 a "
    "year for twenty years.",
    "The harbour district, home to about 30,000 people and most of the city's seafood processors, was under more "
    "than a metre of water during the storm of November 2021, which caused an estimated $410 million in damage.",
    "Insurance premiums in the district have nearly tripled since then, and two of the largest processors have "
    "said they would leave the city without a long-term flood defence.",
    "State officials welcomed the vote. A spokesperson for the governor's office said the state would contribute "
    "planning staff and would fast-track the permits it controls.",
    "The council will vote on the bond issue in March. If it passes, the first contracts could be awarded by the "
    "end of the year.",
]
LOCAL_PARAGRAPH = (
    "The Alder Valley Gazette will host a public forum on the barrier at the Riverside Library on Thursday at "
    "7 p.m. Readers can send questions to the newsroom in advance."
)
ADS = ["ADVERTISEMENT", "Sign up for our morning newsletter to get the day's top stories."]

MAYOR_TITLE = "Port Alder mayor Helena Marsh will not seek a third term"
MAYOR = [
    "PORT ALDER — Mayor Helena Marsh said on Friday she would not run for a third term, ending weeks of "
    "speculation about her future a month after the city council approved the flood barrier she championed.",
    "Marsh, 61, told a news conference at the Port Alder harbour office that she wanted to spend more time with "
    "her family and that the barrier project was in good hands. \"I came into this job to get the harbour "
    "district protected. That work is now under way,\" she said.",
    "Councillor Raymond Okafor, the most prominent critic of the barrier, said he was considering a run for mayor "
    "and would announce his decision after the March bond vote.",
    "Deputy mayor Paula Grieg, who served as the city's finance director for eight years, is widely seen as "
    "Marsh's preferred successor. Grieg declined to comment on Friday.",
    "Marsh was first elected in 2016 on a promise to clean up the city's troubled port authority, and she won a "
    "second term in 2020 with nearly sixty percent of the vote.",
    "Her tenure was marked by the November 2021 storm, which flooded the harbour district and left thousands of "
    "residents without power for more than a week.",
    "The mayoral election will be held in November. Candidates must file their papers with the city clerk by the "
    "end of June.",
]


def body_of(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def add_feed(cur, publisher: str) -> int:
    cur.execute(
        "INSERT INTO feeds (url, publisher) VALUES (%s, %s) RETURNING id",
        (f"https://{publisher.lower().replace(' ', '-')}.example/feed.xml", publisher),
    )
    return cur.fetchone()[0]


def add_article(
    cur,
    feed_id: int,
    url: str,
    title: str,
    paragraphs: list[str],
    published_at: datetime = T0,
    agency: str | None = None,
    is_syndicated: bool = False,
    summary_paragraphs: int = 0,
) -> int:
    body = body_of(paragraphs)
    cur.execute(
        """INSERT INTO articles (url, canonical_url, feed_id, title, body, published_at, fetched_at, agency,
                                 is_syndicated, content_sha256, summary_paragraphs)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (url, url, feed_id, title, body, published_at, published_at + timedelta(minutes=5), agency,
         is_syndicated, hashlib.sha256(body.encode("utf-8")).hexdigest(), summary_paragraphs),
    )
    return cur.fetchone()[0]


def ingest(conn, publisher: str, url: str, title: str, paragraphs: list[str], **kwargs) -> dedupe.StoryDecision:
    """Store one article and assign its story in one transaction, as the store stage does."""
    with db.transaction(conn) as cur:
        cur.execute("SELECT id FROM feeds WHERE publisher = %s", (publisher,))
        row = cur.fetchone()
        feed_id = row[0] if row else add_feed(cur, publisher)
        article_id = add_article(cur, feed_id, url, title, paragraphs, **kwargs)
        return dedupe.assign_story(cur, article_id)


def first_share(paragraphs: list[str], share: float) -> list[str]:
    """The leading paragraphs within `share` of the words, as a local paper running only the top."""
    total = sum(len(p.split()) for p in paragraphs)
    kept, count = [], 0
    for paragraph in paragraphs:
        count += len(paragraph.split())
        if count > share * total:
            break
        kept.append(paragraph)
    return kept


def ingest_barrier_copies(conn) -> dict[str, dedupe.StoryDecision]:
    lead_only = first_share(BARRIER, 0.4)
    with_ads = BARRIER[:2] + [ADS[0]] + BARRIER[2:6] + [ADS[1]] + BARRIER[6:]
    with_local = BARRIER[:3] + [LOCAL_PARAGRAPH] + BARRIER[3:]
    credit = {"agency": "Coastal Wire", "is_syndicated": True}
    return {
        "lead_only": ingest(conn, "Alder Valley Gazette", "https://gazette.example/barrier", BARRIER_TITLE,
                            lead_only, published_at=T0 + timedelta(hours=2), **credit),
        "new_headline": ingest(conn, "Harbour Herald", "https://herald.example/tidal-gates",
                               "Port Alder to build tidal gates after council vote", BARRIER,
                               published_at=T0 - timedelta(minutes=5), **credit),
        "original": ingest(conn, "Coastal Wire", "https://coastalwire.example/port-alder-barrier", BARRIER_TITLE,
                           BARRIER, agency="Coastal Wire"),
        "with_ads": ingest(conn, "Valley News", "https://valleynews.example/barrier", BARRIER_TITLE, with_ads,
                           published_at=T0 + timedelta(minutes=30), **credit),
        "trimmed": ingest(conn, "Daily Tribune", "https://tribune.example/flood-barrier", BARRIER_TITLE,
                          BARRIER[:7], published_at=T0 + timedelta(hours=1), **credit),
        "with_local": ingest(conn, "Riverside Courier", "https://courier.example/barrier-vote", BARRIER_TITLE,
                             with_local, published_at=T0 + timedelta(hours=3), **credit),
    }


def test_copies_with_new_headline_ads_trimmed_tail_first_40_percent_and_local_paragraph_join_one_story(conn):
    decisions = ingest_barrier_copies(conn)

    assert len({d.story_id for d in decisions.values()}) == 1
    assert decisions["lead_only"].method == "first_copy"
    assert decisions["new_headline"].method == "containment"
    assert {decisions[name].method for name in ("with_ads", "trimmed", "with_local")} == {"near_duplicate"}
    assert decisions["original"].method == "exact_body"
    with conn.cursor() as cur:
        cur.execute("SELECT canonical_title, canonical_url, copies, publishers, agencies FROM story_summary")
        assert cur.fetchall() == [(
            BARRIER_TITLE, "https://coastalwire.example/port-alder-barrier", 6,
            ["Alder Valley Gazette", "Coastal Wire", "Daily Tribune", "Harbour Herald", "Riverside Courier",
             "Valley News"],
            ["Coastal Wire"],
        )]
        cur.execute(
            """SELECT publisher, is_canonical, headline_changed, paragraphs_added, cardinality(paragraphs_dropped)
               FROM story_copies ORDER BY publisher"""
        )
        assert cur.fetchall() == [
            ("Alder Valley Gazette", False, False, [], len(BARRIER) - len(first_share(BARRIER, 0.4))),
            ("Coastal Wire", True, False, [], 0),
            ("Daily Tribune", False, False, [], 3),
            ("Harbour Herald", False, True, [], 0),
            ("Riverside Courier", False, False, [LOCAL_PARAGRAPH], 0),
            ("Valley News", False, False, ADS, 0),
        ]


BARRIER_SUMMARY = [
    "The council's vote ends a decade of argument over how to protect the city's low-lying harbour district.",
    "The barrier will cost $240 million and take about five years to build.",
    "Fishing groups and one councillor say the plan still has to answer for the estuary's salmon.",
]


def test_a_copy_printed_with_a_standfirst_and_key_points_still_shares_its_lead_with_a_trimmed_copy(conn):
    with_summary = ingest(conn, "Harbour Herald", "https://herald.example/barrier", BARRIER_TITLE,
                          BARRIER_SUMMARY + BARRIER, summary_paragraphs=len(BARRIER_SUMMARY))
    lead_only = ingest(conn, "Alder Valley Gazette", "https://gazette.example/barrier", BARRIER_TITLE,
                       first_share(BARRIER, 0.4))

    assert lead_only.story_id == with_summary.story_id
    assert lead_only.method == "containment"


def test_lead_sentences_are_the_storys_own_after_the_pages_summary_which_still_counts_as_text():
    config = dedupe.DEFAULT_CONFIG
    features = dedupe.BodyFeatures.of(BARRIER_TITLE, body_of(BARRIER_SUMMARY + BARRIER), config,
                                      summary_paragraphs=len(BARRIER_SUMMARY))
    assert features.lead_sentences == dedupe.BodyFeatures.of(BARRIER_TITLE, body_of(BARRIER), config).lead_sentences
    summary_shingles = dedupe.paragraph_shingles(dedupe.words(BARRIER_SUMMARY[0]), config.shingle_words)
    assert features.shingles.issuperset(summary_shingles)


def test_different_stories_about_the_same_people_and_place_stay_apart(conn):
    barrier = ingest(conn, "Coastal Wire", "https://coastalwire.example/barrier", BARRIER_TITLE, BARRIER)
    mayor = ingest(conn, "Coastal Wire", "https://coastalwire.example/marsh", MAYOR_TITLE, MAYOR)
    mayor_lead = ingest(conn, "Harbour Herald", "https://herald.example/marsh", MAYOR_TITLE, MAYOR[:3])
    barrier_with_mayor_background = ingest(
        conn, "Valley News", "https://valleynews.example/marsh-barrier", MAYOR_TITLE, MAYOR + BARRIER[1:2]
    )

    assert barrier.story_id != mayor.story_id
    assert mayor_lead.story_id == mayor.story_id == barrier_with_mayor_background.story_id
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM stories")
        assert cur.fetchone()[0] == 2


def test_a_copy_arriving_in_a_later_run_joins_the_earlier_story(conn, database_url):
    earlier = ingest(conn, "Coastal Wire", "https://coastalwire.example/barrier", BARRIER_TITLE, BARRIER)

    later_run = db.connect(database_url)
    later = ingest(later_run, "Daily Tribune", "https://tribune.example/barrier", "Tidal barrier approved",
                   BARRIER[:8], published_at=T0 + timedelta(days=1))
    later_run.close()

    assert later.story_id == earlier.story_id
    assert later.matched_article_id == earlier.article_id


def synthetic_story(seed: int) -> tuple[str, list[str]]:
    """A made-up story of our own words: eight paragraphs of three sentences, distinct for every seed."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mir", "ten", "da", "vu", "sel", "or", "pa", "ne", "ri", "gast", "um", "bel"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(400)]

    def sentence() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(10, 16))).capitalize() + "."

    paragraphs = [" ".join(sentence() for _ in range(3)) for _ in range(8)]
    return sentence(), paragraphs


def _ingest_copy_in_rounds(database_url: str, worker: int, rounds: int, barrier) -> None:
    """One worker process: in every round, store its copy of that round's story, wait for the other worker,
    then both assign stories at the same moment."""
    conn = db.connect(database_url)
    with db.transaction(conn) as cur:
        feed_id = add_feed(cur, f"Worker {worker}")
    for round_number in range(rounds):
        title, paragraphs = synthetic_story(round_number)
        copy = paragraphs if worker == 0 else [ADS[0]] + paragraphs[:6]
        with db.transaction(conn) as cur:
            article_id = add_article(cur, feed_id, f"https://worker{worker}.example/{round_number}",
                                     title if worker == 0 else f"Copy {round_number}", copy)
            barrier.wait(timeout=60)
            dedupe.assign_story(cur, article_id)
    conn.close()


def test_two_processes_ingesting_copies_of_one_story_at_once_end_with_a_single_story(conn, database_url):
    rounds = 30
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_ingest_copy_in_rounds, args=(database_url, worker, rounds, barrier))
        for worker in (0, 1)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=240)

    assert [process.exitcode for process in workers] == [0, 0]
    with conn.cursor() as cur:
        cur.execute(
            """SELECT split_part(url, '/', 4)::int AS round, count(DISTINCT story_id), min(s.article_count)
               FROM articles a JOIN stories s ON s.id = a.story_id GROUP BY 1 ORDER BY 1"""
        )
        assert cur.fetchall() == [(round_number, 1, 2) for round_number in range(rounds)]
        cur.execute("SELECT count(*) FROM stories")
        assert cur.fetchone()[0] == rounds


def test_an_article_bridging_two_stories_merges_them_and_records_the_merge(conn):
    top_only = ingest(conn, "Alder Valley Gazette", "https://gazette.example/barrier", BARRIER_TITLE, BARRIER[:3])
    without_intro = ingest(conn, "Harbour Herald", "https://herald.example/barrier", "Tidal gates for Port Alder",
                           BARRIER[1:])
    assert top_only.story_id != without_intro.story_id

    full = ingest(conn, "Coastal Wire", "https://coastalwire.example/barrier", BARRIER_TITLE, BARRIER)

    assert full.story_id == min(top_only.story_id, without_intro.story_id)
    assert full.merged_story_ids == (max(top_only.story_id, without_intro.story_id),)
    with conn.cursor() as cur:
        cur.execute("SELECT merged_story_id, into_story_id, bridging_article_id FROM story_merges")
        assert cur.fetchall() == [(without_intro.story_id, top_only.story_id, full.article_id)]
        cur.execute("SELECT id, article_count, canonical_article_id FROM stories")
        assert cur.fetchall() == [(top_only.story_id, 3, top_only.article_id)]
        cur.execute("SELECT DISTINCT story_id FROM articles")
        assert cur.fetchall() == [(top_only.story_id,)]


def snapshot(conn) -> dict[str, list[tuple]]:
    queries = {
        "stories": "SELECT * FROM stories ORDER BY id",
        "articles": "SELECT id, story_id, updated_at FROM articles ORDER BY id",
        "assignments": "SELECT * FROM story_assignments ORDER BY article_id",
        "keys": "SELECT * FROM dedupe_keys ORDER BY key, article_id",
        "merges": "SELECT * FROM story_merges ORDER BY id",
    }
    with conn.cursor() as cur:
        result = {}
        for name, query in queries.items():
            cur.execute(query)
            result[name] = cur.fetchall()
    conn.commit()
    return result


def test_rerunning_assign_story_changes_nothing(conn):
    decisions = ingest_barrier_copies(conn)
    before = snapshot(conn)

    with db.transaction(conn) as cur:
        rerun = {name: dedupe.assign_story(cur, d.article_id) for name, d in decisions.items()}

    assert snapshot(conn) == before
    assert all(not d.changed for d in rerun.values())
    assert {name: (d.story_id, d.method) for name, d in rerun.items()} == {
        name: (d.story_id, d.method) for name, d in decisions.items()
    }


def test_short_bodies_join_only_on_the_same_text_or_the_same_title_with_the_text_inside(conn):
    brief = ["Port Alder council approves a $240 million tidal flood barrier after a fourteen-hour session."]
    first = ingest(conn, "Coastal Wire", "https://coastalwire.example/brief", "Port Alder approves barrier", brief)
    same_text = ingest(conn, "Harbour Herald", "https://herald.example/brief", "Barrier approved", brief)
    same_title_longer = ingest(conn, "Valley News", "https://valleynews.example/brief",
                               "Port Alder approves barrier", brief + ["More to follow."])
    other_title_longer = ingest(conn, "Daily Tribune", "https://tribune.example/brief", "Council votes",
                                brief + ["Details were not released."])

    assert (same_text.story_id, same_text.method) == (first.story_id, "exact_body")
    assert (same_title_longer.story_id, same_title_longer.method) == (first.story_id, "title_and_body")
    assert other_title_longer.story_id != first.story_id


def test_articles_can_be_searched_by_full_text(conn):
    ingest(conn, "Coastal Wire", "https://coastalwire.example/barrier", BARRIER_TITLE, BARRIER)
    ingest(conn, "Coastal Wire", "https://coastalwire.example/marsh", MAYOR_TITLE, MAYOR)
    with conn.cursor() as cur:
        cur.execute(
            """SELECT title FROM articles WHERE search_vector @@ websearch_to_tsquery('english', 'salmon gates')"""
        )
        assert cur.fetchall() == [(BARRIER_TITLE,)]


def test_assign_story_refuses_an_article_that_does_not_exist(conn):
    with conn.cursor() as cur, pytest.raises(dedupe.DedupeError, match="article 999 does not exist"):
        dedupe.assign_story(cur, 999)


def test_an_article_whose_body_changed_is_decided_again_and_leaves_the_story_it_no_longer_matches(conn):
    barrier = ingest(conn, "Coastal Wire", "https://coastalwire.example/barrier", BARRIER_TITLE, BARRIER)
    copy = ingest(conn, "Harbour Herald", "https://herald.example/story", BARRIER_TITLE, BARRIER[:8])
    assert copy.story_id == barrier.story_id

    with db.transaction(conn) as cur:
        body = body_of(MAYOR)
        cur.execute(
            "UPDATE articles SET title = %s, body = %s, content_sha256 = %s WHERE id = %s",
            (MAYOR_TITLE, body, hashlib.sha256(body.encode("utf-8")).hexdigest(), copy.article_id),
        )
        redecided = dedupe.assign_story(cur, copy.article_id)

    assert redecided.changed and redecided.method == "first_copy"
    assert redecided.story_id != barrier.story_id
    with conn.cursor() as cur:
        cur.execute("SELECT id, article_count, canonical_article_id FROM stories ORDER BY id")
        assert cur.fetchall() == [(barrier.story_id, 1, barrier.article_id), (redecided.story_id, 1, copy.article_id)]
