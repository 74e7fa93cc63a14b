# A standby without shared_preload_libraries = 'querycache' cannot replay
# querycache's WAL records (custom resource manager 163, replica.c): replay
# stops at the first one with PostgreSQL's error, and resumes once the
# library is preloaded.  Then the rollback plan, in its order: the primary
# first (its clean shutdown leaves no record to replay), then each standby
# once it replayed and restartpointed past the last record.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE t (v int);
INSERT INTO t VALUES (1);
});
# The sweeper releases the standby lease that insert took a tick after it
# (querycache.wal_lease): let that record go before the backup.
my $prev = '';
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	my $now = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	last if $now eq $prev;
	$prev = $now;
	usleep(500_000);
}
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
shared_preload_libraries = ''
wal_retrieve_retry_interval = '200ms'
});
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '1',
	'a standby without querycache replays until the first querycache record');

# A writing commit logs a querycache record before its commit record.
my $lsn = $primary->lsn('insert');
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (2)');
my $log = $standby->wait_for_log(qr/resource manager with ID 163 not registered/);
ok($log, 'replay stops there: "resource manager with ID 163 not registered"');
like(slurp_file($standby->logfile),
	qr/HINT:  Include the extension module that implements this resource manager in "?shared_preload_libraries"?/,
	'with PostgreSQL\'s hint');
# the postmaster shuts down after its startup process failed
my $down = 0;
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	$down = !-f $standby->data_dir . '/postmaster.pid';
	last if $down;
	usleep(100_000);
}
ok($down, 'the standby stops');
$standby->_update_pid(-1);
like(slurp_file($standby->logfile), qr/startup process .* exited with exit code 1/,
	'after its startup process exited');

# The fix: preload querycache; replay resumes where it stopped.
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'querycache'\n");
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '2', 'preloaded, the standby replays on');
is($standby->safe_psql('postgres', "SELECT querycache_wrap('t:n', 'SELECT count(*) AS n FROM t')"),
	'[{"n": 2}]', 'and reads through its cache');

# Rollback plan.  1. The primary stops logging: querycache out of its
# shared_preload_libraries, a clean restart (a shutdown checkpoint, so its
# own recovery needs the library no more).
$primary->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$primary->restart;
$lsn = $primary->lsn('insert');
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (3)');
$primary->safe_psql('postgres', 'UPDATE t SET v = v + 10 WHERE v = 3');
my $waldump = `pg_waldump -p ${\$primary->data_dir}/pg_wal -s $lsn 2>&1`;
like($waldump, qr/rmgr: Heap .*INSERT/, 'pg_waldump reads the primary\'s new WAL');
unlike($waldump, qr/custom163/, 'a primary without querycache logs no querycache record');

# 2. Each standby, once it replayed past a checkpoint that follows the last
# querycache record and made it its restartpoint (its next start replays
# nothing older), restarts without querycache.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', 'CHECKPOINT');
$standby->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$standby->restart;
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (4)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '4',
	'rolled back in that order, the standby replays without querycache');
unlike(slurp_file($standby->logfile, $log), qr/resource manager with ID 163/, 'without any error');

$standby->stop;
$primary->stop;
done_testing();
