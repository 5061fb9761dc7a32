"""How the DAGs turn Airflow connections into the plain values feedpipe's Settings take."""
import sys

import psycopg2.extensions
import pytest
from sqlalchemy.engine import URL

from tests.airflow_support import DAGS

sys.path.insert(0, str(DAGS))
from feedpipe_common import archive_url, libpq_url  # noqa: E402  (the DAG folder is not a package)


def test_a_postgres_connection_becomes_a_psycopg2_url_with_the_password():
    url = URL.create("postgresql+psycopg", username="feedpipe", password="s3cret", host="db", port=5432,
                     database="news")

    assert libpq_url(url) == "postgresql://feedpipe:s3cret@db:5432/news"


def test_a_socket_folder_as_host_becomes_libpqs_host_parameter():
    url = URL.create("postgresql+psycopg", username="postgres", host="/tmp/feedpipe home/pg", database="postgres")

    assert psycopg2.extensions.parse_dsn(libpq_url(url)) == {
        "user": "postgres", "dbname": "postgres", "host": "/tmp/feedpipe home/pg"}


def test_an_aws_connection_names_the_archive_bucket_in_its_s3_service_config():
    assert archive_url("aws", {"service_config": {"s3": {"bucket_name": "news-raw"}}}) == "s3://news-raw"


def test_an_fs_connection_names_a_local_archive_folder(tmp_path):
    assert archive_url("fs", {"path": str(tmp_path)}) == tmp_path.as_uri()


@pytest.mark.parametrize("conn_type, extra", [("aws", {}), ("http", {"path": "/x"})])
def test_an_archive_connection_without_a_bucket_or_of_another_type_is_refused(conn_type, extra):
    with pytest.raises(ValueError, match="feedpipe_archive"):
        archive_url(conn_type, extra)
