# Standby leases (replica.c, querycache.wal_lease): a written slot is
# announced once in WAL, writers join the lease without a record of their
# own, and the sweeper releases it a tick after its last writer.  While a
# slot is leased, a standby's entries on it hold only until the next
# replayed commit or abort.  Checks what that saves (records per commit),
# and that none of it leaves a stale entry: a writer in flight, the primary
# crashing under a lease (RESET), the standby restarting under a lease and
# a checkpoint renewing it.
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

$SIG{PIPE} = 'IGNORE';

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
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
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '200ms'
});
$standby->start;

my $tq = 'SELECT count(*) AS n, max(v) AS m FROM t';
my $twrap = "SELECT querycache_wrap('t:n', '$tq')";
my $tvalid = "SELECT coalesce((SELECT valid FROM querycache_entries WHERE key = 't:n'), false)";

# querycache's records in the primary's WAL from LSN on, counted by op code
# (QcStandby.pm).
sub qc_records
{
	my %n = ('0' => 0, '10' => 0, '20' => 0, '30' => 0);
	$n{$_}++ foreach qc_wal_ops($primary, $_[0]);
	return \%n;
}

sub wait_release { return qc_wait_release($primary, $standby, $_[0]); }

sub stored_on_standby { return qc_stored_on_standby($standby, 't:n', $tq); }

##########################################################################
# 1. 200 commits in a row: one lease, not 200 records; with
#    querycache.wal_lease = 0, one record each.
##########################################################################

my $lsn = $primary->lsn('insert');
$primary->safe_psql('postgres', q{
DO $$ BEGIN FOR i IN 1..200 LOOP INSERT INTO other VALUES (i); COMMIT; END LOOP; END $$;
});
ok(wait_release($lsn), 'the lease is released after the last writer');
my $n = qc_records($lsn);
note("200 commits: $n->{'10'} LEASE, $n->{'20'} RELEASE, $n->{'0'} INVAL, $n->{'30'} RESET records");
cmp_ok($n->{'10'} + $n->{'20'} + $n->{'0'} + $n->{'30'}, '<=', 6, '200 commits log a handful of records');
is($n->{'0'}, 0, 'and no per-commit record');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM other'), '200', 'the standby replayed them');

$primary->safe_psql('postgres', 'ALTER SYSTEM SET querycache.wal_lease = 0');
$primary->reload;
$primary->poll_query_until('postgres', 'SHOW querycache.wal_lease', '0');
$lsn = $primary->lsn('insert');
$primary->safe_psql('postgres', q{
DO $$ BEGIN FOR i IN 1..200 LOOP INSERT INTO other VALUES (i); COMMIT; END LOOP; END $$;
});
is(qc_records($lsn)->{'0'}, 200, 'querycache.wal_lease = 0: one record per writing commit');
$primary->safe_psql('postgres', 'ALTER SYSTEM RESET querycache.wal_lease');
$primary->reload;
$primary->poll_query_until('postgres', 'SHOW querycache.wal_lease', '100ms');

##########################################################################
# 2. A writer in flight under a lease: the standby may store what it
#    reads, but only until the next replayed commit; the writer's commit
#    then shows.
##########################################################################

$primary->wait_for_catchup($standby);
ok(stored_on_standby(), 'the standby stores its entry');
$lsn = $primary->lsn('insert');

my $holder = $primary->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my $writer = $primary->background_psql('postgres');
$writer->query_until(qr/started/, q{
\echo started
SET querycache.debug_commit_lock = 4242;
INSERT INTO t VALUES (10);
});
ok(qc_waiting_on_debug_lock($primary),
	'a writer waits after its lease record, before its commit record');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (10)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 'f', 'the lease invalidates the standby\'s entry');
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'the standby reads the committed rows');
is($standby->safe_psql('postgres', $twrap), '[{"m": 1, "n": 1}]', 'again');
is($standby->safe_psql('postgres', $tvalid), 't', 'and stores them, bound to the lease');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (11)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 'f', 'any replayed commit ends a lease-bound entry');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$writer->quit;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 10, "n": 2}]', 'the writer\'s commit replayed: fresh');
$holder->quit;

# Once released, t is precise again: other tables' commits leave it alone.
ok(wait_release($lsn), 'released again');
ok(stored_on_standby(), 'stored');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (12)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 't', 'released: a commit to another table does not invalidate');

##########################################################################
# 3. The primary crashes while a writer holds a lease, before its commit
#    record.  Its first lease after the restart logs RESET first.
##########################################################################

$holder = $primary->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
$writer = $primary->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/started/, q{
\echo started
SET querycache.debug_commit_lock = 4242;
INSERT INTO t VALUES (2);
});
ok(qc_waiting_on_debug_lock($primary),
	'a writer holds a lease, before its commit record');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (13)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 'f', 'the standby\'s entry is invalid');
$primary->stop('immediate');
eval { $holder->quit };
eval { $writer->quit };
is($standby->safe_psql('postgres', $twrap), '[{"m": 10, "n": 2}]', 'crashed primary: the standby serves the committed rows');

$primary->start;
$lsn = $primary->lsn('insert');
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (3)');
is(qc_records($lsn)->{'30'}, 1, 'the first lease after the restart logs RESET');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $twrap), '[{"m": 10, "n": 3}]', 'the standby: fresh, without the lost insert');
# from before the insert: the release may already be logged
ok(wait_release($lsn), 'the new lease is released');
ok(stored_on_standby(), 'the standby stores again');
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (14)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $tvalid), 't', 'precisely: the crashed lease on t is over');

##########################################################################
# 4. The standby restarts while writers hold a lease, and a checkpoint
#    makes them renew it: no stale read at any point.
##########################################################################

my @reader = ('r_ver.sql', 1, q{
SELECT v AS floor FROM ver WHERE id = 1 \gset
SELECT (querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')->0->>'v')::bigint AS w \gset
SELECT CASE WHEN :w >= :floor THEN 1 ELSE 1 / 0 END AS wrap_is_fresh;
});

my $writers = start_pgbench($primary, { seconds => 14, clients => 1, threads => 1, rate => 100 },
	[ 'w_ver.sql', 1, "UPDATE ver SET v = v + 1 WHERE id = 1;\n" ]);
my ($ok, $out, $err) = finish_pgbench(start_pgbench($standby,
		{ seconds => 2, clients => 2, threads => 1 }, \@reader));
ok($ok && $err !~ /aborted|division/, 'under a lease: no stale read') or diag($err);
$standby->stop('immediate');
$standby->start;
$standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')");
($ok, $out, $err) = finish_pgbench(start_pgbench($standby,
		{ seconds => 2, clients => 2, threads => 1 }, \@reader));
ok($ok && $err !~ /aborted|division/, 'the standby restarted under the lease: no stale read') or diag($err);
my $redo = $primary->safe_psql('postgres', 'CHECKPOINT; SELECT redo_lsn FROM pg_control_checkpoint()');
($ok, $out, $err) = finish_pgbench(start_pgbench($standby,
		{ seconds => 2, clients => 2, threads => 1 }, \@reader));
ok($ok && $err !~ /aborted|division/, 'after a checkpoint: no stale read') or diag($err);
cmp_ok(qc_records($redo)->{'10'}, '>=', 1, 'the writers renewed the lease after the checkpoint');
# a restartpoint there: the standby's next start replays from that redo
# pointer on, without the lease's first announcement
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', 'CHECKPOINT');
$standby->stop('fast');
$standby->start;
$standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')");
($ok, $out, $err) = finish_pgbench(start_pgbench($standby,
		{ seconds => 3, clients => 2, threads => 1 }, \@reader));
ok($ok && $err !~ /aborted|division/, 'restarted from the renewed lease: no stale read') or diag($err);
($ok, $out, $err) = finish_pgbench($writers);
ok($ok, 'the writers ran') or diag($err);
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')->0->>'v'"),
	$primary->safe_psql('postgres', 'SELECT v FROM ver WHERE id = 1'), 'caught up: the primary\'s value');
my ($hits) = $standby->safe_psql('postgres', 'SELECT hits FROM querycache_stats');
note("standby hits: $hits");

$standby->stop;
$primary->stop;
done_testing();
