# Airflow with feedpipe installed: the image docker-compose.yml runs. The DAGs come from the mounted dags/ folder.
FROM apache/airflow:3.3.2

COPY --chown=airflow:root pyproject.toml README.md /opt/feedpipe/
COPY --chown=airflow:root pipeline /opt/feedpipe/pipeline
COPY --chown=airflow:root sql /opt/feedpipe/sql
# The module the DAGs share is installed with the library (pyproject.toml: py-modules).
COPY --chown=airflow:root dags/feedpipe_common.py /opt/feedpipe/dags/feedpipe_common.py
# Editable, so the migrations in /opt/feedpipe/sql stay beside the package; pinning apache-airflow keeps pip from
# moving the image's own Airflow.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -e /opt/feedpipe
