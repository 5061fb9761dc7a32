import multiprocessing

from pipeline import db


def _migrate(url: str) -> list[str]:
    return db.migrate(url)


def test_migrations_apply_once_and_concurrently_without_error(postgres_home):
    url = db.embedded_database_url(postgres_home())
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        applied = pool.map(_migrate, [url] * 4)
    all_ids = sorted(i for ids in applied for i in ids)
    assert all_ids == sorted(p.stem for p in db.MIGRATIONS_DIR.glob("*.sql"))
    assert db.migrate(url) == []
    conn = db.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM _yoyo_migration")
        assert cur.fetchone()[0] == len(all_ids)
    conn.close()


def test_every_timestamp_column_is_timestamptz(conn):
    with conn.cursor() as cur:
        cur.execute(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'
                 AND table_name NOT LIKE '%yoyo%'"""
        )
        assert cur.fetchall() == []
