# Hot standbys cache too: invalidations are carried in WAL (replica.c), and
# a standby's cache is never older than what it has replayed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use QcStandby;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
querycache.sweep_interval = '1s'
max_prepared_transactions = 5
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE t (v int);
INSERT INTO t VALUES (1);
CREATE TABLE other (v int);
CREATE ROLE reader LOGIN;
GRANT SELECT ON t TO reader;
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
max_prepared_transactions = 5
});
$standby->start;
$primary->wait_for_catchup($standby);

my $wrap = "SELECT querycache_wrap('t:n', 'SELECT count(*) AS n, max(v) AS m FROM t')";

# Writes on the primary commit (a transaction that finishes after the
# standby started makes it sure it missed nothing); the standby fills.
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (0)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $wrap), '[{"m": 1, "n": 1}]', 'standby fills');
# the first fill after the start may not be stored; poll until it is
my $fill = "querycache_wrap('t:n', 'SELECT count(*) AS n, max(v) AS m FROM t')";
ok($standby->poll_query_until('postgres',
		"SELECT $fill IS NOT NULL AND (SELECT count(*) FROM querycache_entries WHERE key = 't:n') = 1"),
	'the standby stores its own entry');
$standby->safe_psql('postgres', 'SELECT querycache_stats_reset()');
is($standby->safe_psql('postgres', $wrap), '[{"m": 1, "n": 1}]', 'standby hit');
is($standby->safe_psql('postgres', 'SELECT hits, misses FROM querycache_stats'), '1|0',
	'querycache_stats on the standby counts its own hits');

# A committed write, replayed, invalidates the standby's entry.
my $lsn_t = $primary->lsn('insert');
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (2)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $wrap), '[{"m": 2, "n": 2}]', 'write replayed: fresh on the standby');

# Once t's standby lease is over (replica.c), a write to another table
# leaves it valid.
ok(qc_wait_release($primary, $standby, $lsn_t), 't\'s lease is released');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (1)');
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', $wrap);
is($standby->safe_psql('postgres', "SELECT valid FROM querycache_entries WHERE key = 't:n'"), 't',
	'an unrelated write leaves the standby entry valid');

# A rolled-back write bumps nothing and logs nothing.
my $lsn0 = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$primary->safe_psql('postgres', 'BEGIN; INSERT INTO t VALUES (99); ROLLBACK;');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT valid FROM querycache_entries WHERE key = 't:n'"), 't',
	'a rolled-back write leaves the standby entry valid');
is($standby->safe_psql('postgres', $wrap), '[{"m": 2, "n": 2}]', 'and serves the committed rows');

# Privileges replayed invalidate as on the primary.
$standby->safe_psql('postgres', q{SET ROLE reader; SELECT querycache_wrap('r:n', 'SELECT count(*) AS n FROM t')});
$primary->safe_psql('postgres', 'REVOKE SELECT ON t FROM reader');
$primary->wait_for_catchup($standby);
my ($rc, $out, $err) = $standby->psql('postgres',
	q{SET ROLE reader; SELECT querycache_wrap('r:n', 'SELECT count(*) AS n FROM t')});
like($err, qr/permission denied for table t/, 'a replayed REVOKE: permission error, not the cached rows');

# COMMIT PREPARED on the primary invalidates the standby.
$standby->safe_psql('postgres', $wrap);
$primary->safe_psql('postgres', "BEGIN; INSERT INTO t VALUES (3); PREPARE TRANSACTION 'p1'");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $wrap), '[{"m": 2, "n": 2}]', 'prepared, not committed: old rows');
$primary->safe_psql('postgres', "COMMIT PREPARED 'p1'");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $wrap), '[{"m": 3, "n": 3}]', 'COMMIT PREPARED replayed: fresh');

# Promotion: the new primary starts with nothing valid, then caches and
# invalidates as a primary does.
$standby->safe_psql('postgres', $wrap);
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
is($standby->safe_psql('postgres', "SELECT count(*) FROM querycache_entries WHERE valid"), '0',
	'promotion invalidates every entry');
is($standby->safe_psql('postgres', $wrap), '[{"m": 3, "n": 3}]', 'the promoted node fills');
$standby->safe_psql('postgres', 'INSERT INTO t VALUES (4)');
is($standby->safe_psql('postgres', $wrap), '[{"m": 4, "n": 4}]', 'and invalidates on its own writes');

$standby->stop;
$primary->stop;
done_testing();
