--
-- Privileges: a cached result is never served to a role that could not
-- read it now (CVE-2024-45624 in pgpool-II), and row-level security is
-- not cached unless querycache.cache_rls is on.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_reader;
CREATE ROLE qc_group;
CREATE TABLE priv_t (id int, secret text);
INSERT INTO priv_t VALUES (1, 'classified');
GRANT SELECT ON priv_t TO qc_reader;

SET ROLE qc_reader;
SELECT querycache_wrap('p:secret', 'SELECT secret FROM priv_t');
SELECT querycache_wrap('p:secret', 'SELECT secret FROM priv_t');
RESET ROLE;

-- REVOKE: the next wrap of the cached key fails with a permission error.
REVOKE SELECT ON priv_t FROM qc_reader;
SET ROLE qc_reader;
SELECT querycache_wrap('p:secret', 'SELECT secret FROM priv_t');
SELECT querycache_get('p:secret') IS NULL AS not_served;
RESET ROLE;

-- Column privileges too.
GRANT SELECT (id) ON priv_t TO qc_reader;
GRANT SELECT (secret) ON priv_t TO qc_reader;
SET ROLE qc_reader;
SELECT querycache_wrap('p:cols', 'SELECT id, secret FROM priv_t');
RESET ROLE;
REVOKE SELECT (secret) ON priv_t FROM qc_reader;
SET ROLE qc_reader;
SELECT querycache_wrap('p:cols', 'SELECT id, secret FROM priv_t');
RESET ROLE;

-- Role membership: privileges held through a group disappear with it.
REVOKE ALL ON priv_t FROM qc_reader;
GRANT SELECT ON priv_t TO qc_group;
GRANT qc_group TO qc_reader;
SET ROLE qc_reader;
SELECT querycache_wrap('p:group', 'SELECT secret FROM priv_t');
RESET ROLE;
REVOKE qc_group FROM qc_reader;
SET ROLE qc_reader;
SELECT querycache_wrap('p:group', 'SELECT secret FROM priv_t');
RESET ROLE;

-- ALTER ROLE is cluster-wide: it invalidates every database's entries.
GRANT qc_group TO qc_reader;
SET ROLE qc_reader;
SELECT querycache_wrap('p:role', 'SELECT secret FROM priv_t');
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'p:role';
ALTER ROLE qc_group NOINHERIT;
SELECT valid FROM querycache_entries WHERE key = 'p:role';
REVOKE qc_group FROM qc_reader;

-- Row-level security: the result depends on policies, so it is not cached...
CREATE TABLE rls_t (owner name, v text);
INSERT INTO rls_t VALUES ('qc_reader', 'mine'), ('someone', 'theirs');
ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON rls_t USING (owner = current_user);
GRANT SELECT ON rls_t TO qc_reader;
SELECT querycache_stats_reset();
SET ROLE qc_reader;
SELECT querycache_wrap('p:rls', 'SELECT v FROM rls_t');
SELECT querycache_wrap('p:rls', 'SELECT v FROM rls_t');
SELECT querycache_get('p:rls') IS NULL AS not_cached;
RESET ROLE;
SELECT hits, fills, bypasses FROM querycache_stats;

-- ...unless querycache.cache_rls is on; then a policy change invalidates.
SET querycache.cache_rls = on;
SET ROLE qc_reader;
SELECT querycache_wrap('p:rls', 'SELECT v FROM rls_t');
SELECT querycache_get('p:rls') IS NOT NULL AS cached;
RESET ROLE;
ALTER POLICY own ON rls_t USING (true);
SET ROLE qc_reader;
SELECT querycache_wrap('p:rls', 'SELECT v FROM rls_t');
RESET ROLE;
RESET querycache.cache_rls;

-- Only the identity that filled an entry reads it, even for superusers.
SELECT querycache_get('p:rls') IS NULL AS superuser_has_own_entries;

-- querycache_invalidate_table needs a right to write the table.
SET ROLE qc_reader;
SELECT querycache_invalidate_table('priv_t');
RESET ROLE;

DROP TABLE priv_t, rls_t;
DROP ROLE qc_reader;
DROP ROLE qc_group;
SELECT querycache_clear_all() >= 0 AS cleared;
