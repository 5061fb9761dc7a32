-- Run once by the postgres image on an empty data folder: feedpipe's data lives beside Airflow's metadata,
-- in a database and role of its own.
CREATE ROLE feedpipe LOGIN PASSWORD 'feedpipe';
CREATE DATABASE feedpipe OWNER feedpipe;
