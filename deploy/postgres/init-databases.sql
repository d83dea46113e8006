-- One database per QSR service; each service creates its own tables with
-- Alembic at start-up, so only the empty databases are made here.
-- (A service whose role has CREATEDB would also create its missing database
-- itself, via the `postgres` database; creating them up front means the
-- application role needs no such privilege.)
--
-- docker-compose: mounted into /docker-entrypoint-initdb.d/ of postgres:15 and
-- run once, as POSTGRES_USER (qsr), on the first start with an empty data
-- volume; the databases are therefore owned by qsr.
--
-- Managed/external PostgreSQL (Kubernetes): run it once as an admin role, then
-- make the application role the owner, e.g.
--   psql "host=... user=admin dbname=postgres" -f deploy/postgres/init-databases.sql
--   ALTER DATABASE qsr_registry OWNER TO qsr;   -- and likewise for the other four
--
-- CREATE DATABASE cannot run inside a transaction; psql runs each statement
-- on its own, so do not wrap this file in BEGIN/COMMIT.

CREATE DATABASE qsr_registry;
CREATE DATABASE qsr_grading;
CREATE DATABASE qsr_inspection;
CREATE DATABASE qsr_exam;
CREATE DATABASE qsr_reporting;
