-- Run once by the postgres image's entrypoint, when the postgres_data volume is
-- initialised (files in /docker-entrypoint-initdb.d; deploy/compose.yaml mounts this
-- directory there). An existing data directory is left alone: create the role by hand
-- there, with the same statements.
--
-- The login role persistence_exporter uses. pg_monitor lets it read every setting
-- (pg_settings), every session's state (pg_stat_activity) and the statistics views, and
-- nothing else: no table data, no writes. Without pg_monitor PostgreSQL silently hides
-- settings and other sessions' queries. The password comes from the compose secret
-- postgres_exporter_password (deploy/secrets/), the same file the exporter reads; psql
-- strips the trailing newline.
\set exporter_password `cat /run/secrets/postgres_exporter_password`
CREATE ROLE exporter WITH LOGIN PASSWORD :'exporter_password' CONNECTION LIMIT 5;
GRANT pg_monitor TO exporter;
\unset exporter_password
