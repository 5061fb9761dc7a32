import re
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


def test_sql_readme_documents_every_column_of_every_table(conn):
    readme = (db.MIGRATIONS_DIR / "README.md").read_text(encoding="utf-8")
    with conn.cursor() as cur:
        cur.execute("""SELECT c.table_name, c.column_name FROM information_schema.columns c
                       JOIN information_schema.tables t USING (table_schema, table_name)
                       WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                         AND c.table_name NOT LIKE '\\_yoyo%' AND c.table_name NOT LIKE 'yoyo%'""")
        columns = cur.fetchall()
    undocumented = [f"{table}.{column}" for table, column in columns
                    if not re.search(rf"\b{table}\b", readme) or not re.search(rf"\b{column}\b", readme)]
    assert undocumented == []
