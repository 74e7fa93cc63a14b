# A hot standby's cache across failures (replica.c): the primary crashing
# between a writer's PRE_COMMIT record and its commit record, the standby
# restarting while the primary writes (also with a record it can never
# replay), and the standby falling behind: its WAL receiver stopped, or
# replay paused, then catching up.  None may leave a stale entry.
# The primary logs one record per writing commit here (querycache.wal_lease
# = 0): t/084 covers the same failures with standby leases, the default.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use QcPgbench;
use QcStandby;

# psql sessions of a crashed server are gone: writing to them must not kill us
$SIG{PIPE} = 'IGNORE';

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
querycache.wal_lease = 0
querycache.sweep_interval = '1s'
max_connections = 30
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE t (v int);
INSERT INTO t VALUES (1);
CREATE TABLE other (v int);
CREATE TABLE ver (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO ver VALUES (1, 0);
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
hot_standby_feedback = on
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '200ms'
});
$standby->start;

my $tq = 'SELECT count(*) AS n, max(v) AS m FROM t';
my $twrap = "SELECT querycache_wrap('t:n', '$tq')";
my $tvalid = "SELECT coalesce((SELECT valid FROM querycache_entries WHERE key = 't:n'), false)";

sub stored_on_standby { return qc_stored_on_standby($standby, @_); }

# Whether the wrap of KEY on the standby returns what the query returns
# directly, as jsonb.
sub standby_fresh
{
	my ($key, $query) = @_;

	return $standby->safe_psql('postgres',
		"SELECT querycache_wrap('$key', '$query') = "
		  . "(SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM ($query) x)");
}

$primary->safe_psql('postgres', 'INSERT INTO other VALUES (0)');
$primary->wait_for_catchup($standby);
ok(stored_on_standby('t:n', $tq), 'the standby stores its entry');

##########################################################################
# 0. Between a writer's replayed PRE_COMMIT record and its commit record,
#    the standby reads the old rows and stores nothing; once the commit is
#    replayed it reads the new ones.
##########################################################################

my $holder = $primary->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my $writer = $primary->background_psql('postgres');
$writer->query_until(qr/started/, q{
\echo started
SET querycache.debug_commit_lock = 4242;
INSERT INTO t VALUES (10);
});
ok(qc_waiting_on_debug_lock($primary), 'a writer waits between its PRE_COMMIT record and its commit record');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (10)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 'f', 'its replayed PRE_COMMIT record invalidates');
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'the standby reads the committed rows');
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'again');
is($standby->safe_psql('postgres', $tvalid), 'f', 'and stores nothing while the writer is in flight');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$writer->quit;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 10, "n": 2}]', 'its commit replayed: fresh');
$primary->safe_psql('postgres', 'DELETE FROM t WHERE v = 10');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'and its deletion');
ok(stored_on_standby('t:n', $tq), 'stored again');
$holder->quit;

##########################################################################
# 1. The primary crashes after a writer's PRE_COMMIT record, before its
#    commit record.
##########################################################################

my $lsn0 = $primary->lsn('insert');
$holder = $primary->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
$writer = $primary->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/started/, q{
\echo started
SET querycache.debug_commit_lock = 4242;
INSERT INTO t VALUES (2);
});
ok(qc_waiting_on_debug_lock($primary), 'the writer waits between its PRE_COMMIT record and its commit record');
my $lost_xid = $primary->safe_psql('postgres',
	"SELECT backend_xid FROM pg_stat_activity WHERE query LIKE 'INSERT INTO t VALUES (2)%'");
note("writer's xid: $lost_xid");

# Another commit flushes the WAL, the writer's record with it; the standby
# replays it: the entry is stale at once.
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (1)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 'f', 'the PRE_COMMIT record replayed on the standby invalidates');
my $waldump = `pg_waldump -p ${\$primary->data_dir}/pg_wal --rmgr=custom163 -s $lsn0 2>&1`;
# (pg_waldump cannot describe a custom record; the header's xid is the
# writer's, as the record's own xid field)
like($waldump, qr/^rmgr: custom163 .* tx: +$lost_xid, /m, 'pg_waldump shows the querycache record of the writer');

$primary->stop('immediate');
eval { $holder->quit };
eval { $writer->quit };

is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'crashed primary: the standby serves the committed rows');
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'again');
is($standby->safe_psql('postgres', $tvalid), 'f',
	'and stores nothing while the lost writer may still commit');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '1', 'the insert is not visible');

# Crash recovery; the standby reconnects and replays the end-of-recovery
# checkpoint, which ends the lost xid: the standby caches again.
$primary->start;
$primary->wait_for_catchup($standby);
is($primary->safe_psql('postgres', 'SELECT count(*) FROM t'), '1', 'the crashed insert never committed');
ok(stored_on_standby('t:n', $tq), 'after the primary recovered, the standby stores its entry again');
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'the committed rows');
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (3)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 3, "n": 2}]', 'a later committed write is seen');
ok(stored_on_standby('t:n', $tq), 'and cached');
$standby->safe_psql('postgres', 'SELECT querycache_stats_reset()');
$standby->safe_psql('postgres', $twrap);
is($standby->safe_psql('postgres', 'SELECT hits FROM querycache_stats'), '1', 'and hit');

##########################################################################
# 2. The standby restarts while a writer's PRE_COMMIT record lies before
#    the point its redo starts from: that record is never replayed, yet
#    the commit is.
##########################################################################

$holder = $primary->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
$writer = $primary->background_psql('postgres');
$writer->query_until(qr/started/, q{
\echo started
SET querycache.debug_commit_lock = 4242;
INSERT INTO t VALUES (4);
});
ok(qc_waiting_on_debug_lock($primary), 'a writer waits after its PRE_COMMIT record');
# a checkpoint after the record, then a restartpoint there and a restart:
# the standby's redo starts after the writer's record
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', 'CHECKPOINT');
$standby->restart;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 3, "n": 2}]', 'restarted standby: committed rows');
is($standby->safe_psql('postgres', $twrap), '[{"m": 3, "n": 2}]', 'again');
is($standby->safe_psql('postgres', $tvalid), 'f',
	'not stored while a transaction older than the restart is running');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$writer->quit;
$holder->quit;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 4, "n": 3}]',
	'its commit replayed without its PRE_COMMIT record: fresh');
# the standby is sure again once a transaction younger than its first fill
# after the restart finished
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (2)');
$primary->wait_for_catchup($standby);
ok(stored_on_standby('t:n', $tq), 'then the standby stores again');
is($standby->safe_psql('postgres', $twrap), '[{"m": 4, "n": 3}]', 'the right rows');

##########################################################################
# 3. The standby restarts (immediate and fast) while the primary writes.
##########################################################################

my @reader = ('r_ver.sql', 1, q{
SELECT v AS floor FROM ver WHERE id = 1 \gset
SELECT (querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')->0->>'v')::bigint AS w \gset
SELECT CASE WHEN :w >= :floor THEN 1 ELSE 1 / 0 END AS wrap_is_fresh;
});
my $vq = 'SELECT v FROM ver WHERE id = 1';

foreach my $mode ('immediate', 'fast')
{
	my $writers = start_pgbench($primary, { seconds => 12, clients => 1, threads => 1, rate => 50 },
		[ 'w_ver.sql', 1, "UPDATE ver SET v = v + 1 WHERE id = 1;\n" ]);
	# the standby reads, caches, and is stopped under the writes
	my ($ok, $out, $err) = finish_pgbench(start_pgbench($standby,
			{ seconds => 2, clients => 2, threads => 1 }, \@reader));
	ok($ok && $err !~ /aborted|division/, "before the $mode restart: fresh reads") or diag($err);
	$standby->stop($mode);
	usleep(500_000);
	$standby->start;
	# the first fill after the start chooses the horizon, a later commit
	# passes it (replica.c): the writers may be done on a slow machine
	$standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')");
	$primary->safe_psql('postgres', 'INSERT INTO other VALUES (3)');
	$primary->wait_for_catchup($standby);
	$standby->safe_psql('postgres', 'SELECT querycache_stats_reset()');
	($ok, $out, $err) = finish_pgbench(start_pgbench($standby,
			{ seconds => 3, clients => 2, threads => 1 }, \@reader));
	ok($ok && $err !~ /aborted|division/, "after the $mode restart, under writes: no stale read") or diag($err);
	my ($hits, $fills) = split(/\|/, $standby->safe_psql('postgres', 'SELECT hits, fills FROM querycache_stats'));
	note("after the $mode restart: hits $hits, fills $fills");
	cmp_ok($hits, '>', 0, "the standby caches again after the $mode restart");
	($ok, $out, $err) = finish_pgbench($writers);
	ok($ok, 'the writers ran') or diag($err);
	$primary->wait_for_catchup($standby);
	is(standby_fresh('ver:1', $vq), 't', "after the $mode restart and catch-up: wrap equals the direct query");
	is($standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')->0->>'v'"),
		$primary->safe_psql('postgres', $vq), 'and the primary');
}

##########################################################################
# 4. The standby falls behind: its WAL receiver stopped, replay paused.
##########################################################################

$standby->safe_psql('postgres', "ALTER SYSTEM SET primary_conninfo = ''");
$standby->reload;
ok($standby->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_stat_wal_receiver'),
	'the standby\'s WAL receiver stopped');
ok(stored_on_standby('ver:1', $vq), 'disconnected, the standby caches');
my $old = $standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')");
$primary->safe_psql('postgres', 'UPDATE ver SET v = v + 1 WHERE id = 1') for 1 .. 5;
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (5)');
is($standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')"), $old,
	'behind the primary, the standby serves what it replayed');
is(standby_fresh('ver:1', $vq), 't', 'which is what it reads directly');
$standby->safe_psql('postgres', 'ALTER SYSTEM RESET primary_conninfo');
$standby->reload;
$primary->wait_for_catchup($standby);
is(standby_fresh('ver:1', $vq), 't', 'reconnected and caught up: fresh');
is($standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')->0->>'v'"),
	$primary->safe_psql('postgres', $vq), 'with the primary\'s version');
is($standby->safe_psql('postgres', $twrap), '[{"m": 5, "n": 4}]', 'and the other table\'s rows');

ok(stored_on_standby('ver:1', $vq), 'cached again');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$primary->safe_psql('postgres', 'UPDATE ver SET v = v + 1 WHERE id = 1') for 1 .. 3;
$primary->wait_for_catchup($standby, 'flush');
is(standby_fresh('ver:1', $vq), 't', 'replay paused, WAL received: the wrap equals the direct query');
isnt($standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')->0->>'v'"),
	$primary->safe_psql('postgres', $vq), 'which is behind the primary');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', '$vq')->0->>'v'"),
	$primary->safe_psql('postgres', $vq), 'replay resumed: the primary\'s version');

$standby->stop;
$primary->stop;
done_testing();
