"""Per-domain state shared by every worker: leases, holds and the earliest next request time.

This module owns `fetch_domains` and the per-domain advisory locks. A worker leases the registrable domains it
is about to request (a session advisory lock per domain), carries their stored holds and next-request times
into its crawler's budget, and writes back the holds it was told about (429/503 Retry-After) and when the next
request to each domain may start. Nothing about a domain is kept in a worker's memory across runs.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

from pipeline.crawler import Crawler

DOMAIN_LOCK_SPACE = 0x706F6C6C  # "poll": advisory locks (space, hashtext(domain)) lease a domain to one worker


@dataclass(frozen=True)
class DomainState:
    domain: str
    hold_until: datetime | None
    next_request_at: datetime | None


@contextmanager
def lease_domains(conn, domains: Iterable[str], wait: bool = False) -> Iterator[list[DomainState]]:
    """Lease domains for this worker (session advisory locks), yielding their stored state; released on exit.

    Without `wait`, the domains another worker holds are left out: that worker polls their feeds. With `wait`,
    every domain is leased, waiting for other workers to let go; the locks are taken in sorted order, so two
    waiting workers cannot deadlock."""
    domains = sorted(set(domains))
    with conn.cursor() as cur:
        if wait:
            for domain in domains:
                cur.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (DOMAIN_LOCK_SPACE, domain))
        cur.execute(
            """SELECT d.domain, f.hold_until, f.next_request_at
               FROM unnest(%s::text[]) AS d (domain)
               LEFT JOIN fetch_domains f ON f.domain = d.domain
               WHERE CASE WHEN %s THEN true ELSE pg_try_advisory_lock(%s, hashtext(d.domain)) END
               ORDER BY d.domain""",
            (domains, wait, DOMAIN_LOCK_SPACE),
        )
        leased = [DomainState(*row) for row in cur.fetchall()]
    conn.commit()
    try:
        yield leased
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_unlock(%s, hashtext(d)) FROM unnest(%s::text[]) AS d",
                (DOMAIN_LOCK_SPACE, [state.domain for state in leased]),
            )
        conn.commit()


def record_domain_hold(cur, domain: str, until: datetime, reason: str) -> None:
    cur.execute(
        """INSERT INTO fetch_domains (domain, hold_until, hold_reason) VALUES (%s, %s, %s)
           ON CONFLICT (domain) DO UPDATE SET hold_until = GREATEST(fetch_domains.hold_until, EXCLUDED.hold_until),
               hold_reason = EXCLUDED.hold_reason, updated_at = now()""",
        (domain, until, reason),
    )


def record_next_requests(cur, domains: list[str], delay_seconds: float) -> None:
    """After a worker's last request to these domains: the next may start `delay_seconds` from now."""
    cur.execute(
        """INSERT INTO fetch_domains (domain, next_request_at)
           SELECT d, now() + make_interval(secs => %s) FROM unnest(%s::text[]) AS d
           ON CONFLICT (domain) DO UPDATE SET next_request_at = EXCLUDED.next_request_at, updated_at = now()""",
        (delay_seconds, domains),
    )


def apply_stored_domain_state(crawler: Crawler, leased: list[DomainState]) -> None:
    """Carry the holds and earliest request times that earlier runs stored into this crawler's budget."""
    for state in leased:
        if state.hold_until:
            crawler.hold(state.domain, state.hold_until)
        if state.next_request_at:
            crawler.not_before(state.domain, state.next_request_at)


def record_new_holds(cur, crawler: Crawler) -> None:
    """Store the holds the crawler was told about since it was last asked, for every worker to honour."""
    for hold in crawler.take_new_holds():
        record_domain_hold(cur, hold.domain, hold.until, hold.reason)
