# Single-flight misses: concurrent cold wraps of one entry run the query
# once; a cancelled or terminated filler hands over to a waiter; waits are
# bounded by querycache.lock_timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('flight');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'querycache'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION querycache');

sub stats
{
	return $node->safe_psql('postgres',
		'SELECT misses, fills, coalesced, bypasses FROM querycache_stats');
}

# Start a psql running $sql in the background.
sub start_wrap
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub finish
{
	my ($p) = @_;
	$p->{h}->finish;
	chomp(my $out = ${ $p->{out} });
	return ($out, ${ $p->{err} });
}

# Wait until $n backends run a wrap of $key, and the filler sleeps.
sub wait_for_flight
{
	my ($key, $n) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) >= $n AND count(*) FILTER (WHERE wait_event = 'PgSleep') = 1
		  FROM pg_stat_activity WHERE query LIKE '%querycache_wrap(''$key''%' AND pid <> pg_backend_pid()})
	  or die "flight for $key did not form";
}

sub filler_pid
{
	my ($key) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT pid FROM pg_stat_activity
		 WHERE query LIKE '%querycache_wrap(''$key''%' AND wait_event = 'PgSleep'});
}

# 8 concurrent cold calls of a slow query: one fill, seven coalesced.
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
my $slow = "SELECT querycache_wrap('slow', 'SELECT pg_sleep(1) IS NOT NULL AS slept, 42 AS v')";
my @clients = map { start_wrap($slow) } 1 .. 8;
my @results = map { (finish($_))[0] } @clients;
is_deeply(\@results, [ ('[{"v": 42, "slept": true}]') x 8 ], 'all eight got the result');
is(stats(), '8|1|7|0', 'misses 8, fills 1, coalesced 7');

# Cancel the filler: a waiter takes over, nobody hangs.
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
my $q = "SELECT querycache_wrap('cancel', 'SELECT pg_sleep(2) IS NOT NULL AS slept, 1 AS v')";
my $leader = start_wrap($q);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
my @waiters = map { start_wrap($q) } 1 .. 3;
wait_for_flight('cancel', 4);
my $t0 = time;
$node->safe_psql('postgres', 'SELECT pg_cancel_backend(' . filler_pid('cancel') . ')');
my (undef, $lerr) = finish($leader);
like($lerr, qr/canceling statement due to user request/, 'filler cancelled');
@results = map { (finish($_))[0] } @waiters;
is_deeply(\@results, [ ('[{"v": 1, "slept": true}]') x 3 ], 'waiters got a result after the cancel');
cmp_ok(time - $t0, '<', 8, 'no waiter hung');
is(stats(), '4|1|2|0', 'one waiter took over the fill, two coalesced');

# Terminate the filler: same.
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
$q = "SELECT querycache_wrap('terminate', 'SELECT pg_sleep(2) IS NOT NULL AS slept, 2 AS v')";
$leader = start_wrap($q);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
@waiters = map { start_wrap($q) } 1 .. 3;
wait_for_flight('terminate', 4);
$node->safe_psql('postgres', 'SELECT pg_terminate_backend(' . filler_pid('terminate') . ')');
(undef, $lerr) = finish($leader);
like($lerr, qr/terminating connection due to administrator command/, 'filler terminated');
@results = map { (finish($_))[0] } @waiters;
is_deeply(\@results, [ ('[{"v": 2, "slept": true}]') x 3 ], 'waiters got a result after the termination');
is(stats(), '4|1|2|0', 'one waiter took over the fill, two coalesced');

# No flight slot leaked: a fresh cold burst still coalesces.
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
$slow = "SELECT querycache_wrap('again', 'SELECT pg_sleep(0.5) IS NOT NULL AS slept')";
@clients = map { start_wrap($slow) } 1 .. 4;
finish($_) for @clients;
is(stats(), '4|1|3|0', 'later flights still work');

# A fill that runs but cannot store its result (here: too large) does not
# make the others queue: they run the query side by side.
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
$slow = "SET querycache.max_entry_size = '1kB'; "
  . "SELECT length(querycache_wrap('big', 'SELECT pg_sleep(1) IS NOT NULL AS s, repeat(''x'', 5000) AS r')::text)";
$t0 = time;
@clients = map { start_wrap($slow) } 1 .. 4;
@results = map { (finish($_))[0] } @clients;
is_deeply(\@results, [ ('5022') x 4 ], 'all four got the uncacheable result');
cmp_ok(time - $t0, '<', 3.5, 'they did not run one after another');
is(stats(), '4|4|0|0', 'four fills, none coalesced');

# A transaction that wrote a dependency does not wait for (or take) another
# backend's fill: it runs the query itself and sees its own write.  The
# filler sleeps inside its query, by a setting only its session has.
$node->safe_psql('postgres', 'CREATE TABLE fl_t (v int); INSERT INTO fl_t VALUES (1)');
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
my $own_q = "SELECT querycache_wrap('own', 'SELECT v FROM fl_t "
  . "WHERE pg_sleep(current_setting(''qc_test.delay'')::float) IS NOT NULL')";
my $filler = start_wrap("SET qc_test.delay = '3'; $own_q");
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
$t0 = time;
my $writer = start_wrap("SET qc_test.delay = '0'; BEGIN; UPDATE fl_t SET v = 2; $own_q; ROLLBACK;");
my ($wout) = finish($writer);
is($wout, '[{"v": 2}]', 'the writer sees its own write');
cmp_ok(time - $t0, '<', 2, 'without waiting for the other backend filling the same entry');
my ($fout) = finish($filler);
is($fout, '[{"v": 1}]', 'the filler returns the committed value');
is((split /\|/, stats())[2], '0', 'nothing was coalesced');

# querycache.lock_timeout bounds the wait; then the waiter runs the query uncached.
$node->safe_psql('postgres', 'SELECT querycache_stats_reset()');
$q = "SELECT querycache_wrap('timeout', 'SELECT pg_sleep(3) IS NOT NULL AS slept, 3 AS v')";
$leader = start_wrap($q);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
my $impatient = start_wrap("SET querycache.lock_timeout = '200ms'; "
	  . "SELECT querycache_wrap('timeout', 'SELECT 3 AS v')");
my ($iout) = finish($impatient);
# a different query text is a different flight: it must not wait at all
is($iout, '[{"v": 3}]', 'another query on the same key does not wait');
$impatient = start_wrap("SET querycache.lock_timeout = '200ms'; $q");
$t0 = time;
($iout) = finish($impatient);
is($iout, '[{"v": 3, "slept": true}]', 'the impatient waiter ran the query itself');
finish($leader);
is((split /\|/, stats())[3], '1', 'counted as a bypass');

$node->stop;
done_testing();
