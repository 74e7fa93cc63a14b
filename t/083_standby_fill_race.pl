# A race on a restarted standby (replica.c), made deterministic with gdb.
#
# After a restart the standby may have missed the PRE_COMMIT record of a
# transaction X still running on the primary (its record lies before the
# restartpoint), so it stores no fill until a fill's snapshot proves that
# every xid older than a horizon finished (qc_replica_fill_ok).  But the
# "unsure" state is global and checked after the snapshot: a fill A that
# took its snapshot while X ran, then called qc_replica_fill_ok after
# another fill B had cleared the state (X committed meanwhile), is told it
# may store, and stores a result without X's rows.  X's commit record bumps
# nothing on the standby (its PRE_COMMIT record was never replayed), so the
# entry is served stale until the next write to the table.
#
# gdb stops A at the entry of qc_replica_fill_ok, after its snapshot.
# Skipped when gdb cannot attach to a backend.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use QcStandby;
use IPC::Run;
use Time::HiRes qw(usleep);

if (system('gdb --version >/dev/null 2>&1') != 0)
{
	plan skip_all => 'gdb is not installed';
}

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
CREATE TABLE other (v int);
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $twrap = "SELECT querycache_wrap('t:n', 'SELECT count(*) AS n FROM t')";

# X stops between its PRE_COMMIT record and its commit record; a
# checkpoint after its record becomes the standby's restartpoint; the
# standby restarts: X's record will never be replayed there.
my $holder = $primary->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my $writer = $primary->background_psql('postgres');
$writer->query_until(qr/started/, q{
\echo started
SET querycache.debug_commit_lock = 4242;
INSERT INTO t VALUES (2);
});
ok(qc_waiting_on_debug_lock($primary),
	'X waits after its PRE_COMMIT record');
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', 'CHECKPOINT');
$standby->restart;
$primary->wait_for_catchup($standby);

# Fill A stops in qc_replica_fill_ok, its snapshot taken while X runs.
my $a = $standby->background_psql('postgres');
my $a_pid = $a->query_safe('SELECT pg_backend_pid()');
my $dir = $standby->basedir;
unlink("$dir/gdb_attached", "$dir/gdb_stopped", "$dir/gdb_go");
my ($gout, $gerr) = ('', '');
my $gdb = IPC::Run::start(
	[
		'gdb', '-p', $a_pid, '-batch', '-nx',
		'-ex', 'set pagination off',
		'-ex', 'set breakpoint pending on',
		'-ex', 'break qc_replica_fill_ok',
		'-ex', "shell touch $dir/gdb_attached",
		'-ex', 'continue',
		'-ex', "shell touch $dir/gdb_stopped",
		'-ex', "shell while [ ! -f $dir/gdb_go ]; do sleep 0.1; done",
		'-ex', 'delete',
		'-ex', 'detach'
	],
	'<', \undef, '>', \$gout, '2>', \$gerr);

sub wait_file
{
	my ($f) = @_;

	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		return 1 if -f $f;
		usleep(100_000);
	}
	return 0;
}

if (!wait_file("$dir/gdb_attached"))
{
	$gdb->kill_kill;
	plan skip_all => "gdb could not attach to a backend: $gerr";
}
$a->query_until(qr/sent/, "\\echo sent\n$twrap;\n");
ok(wait_file("$dir/gdb_stopped"), 'fill A stopped after its snapshot, X still running') or diag($gout, $gerr);

# Fill B chooses the horizon; X commits; a later transaction finishes; fill
# B (another key) passes the horizon and clears the state.
my $owrap = "SELECT querycache_wrap('o:n', 'SELECT count(*) AS n FROM other')";
$standby->safe_psql('postgres', $owrap);
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$writer->quit;
$holder->quit;
$primary->safe_psql('postgres', 'INSERT INTO other VALUES (1)');
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres',
		"SELECT (SELECT valid FROM querycache_entries WHERE key = 'o:n') FROM ($owrap) w"),
	'fill B stored: the standby is sure again');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '2', 'X\'s row is visible on the standby');

# Let A go on: it must not store what its old snapshot saw.
IPC::Run::run([ 'touch', "$dir/gdb_go" ]);
$gdb->finish;
my ($a_out) = $a->query('SELECT 1');
$a->quit;
note("fill A returned: $a_out");
is($standby->safe_psql('postgres', $twrap), '[{"n": 2}]',
	'no stale entry: the wrap returns the replayed rows');

$standby->stop;
$primary->stop;
done_testing();
