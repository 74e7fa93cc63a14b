# Crashes and restarts: shared memory is rebuilt empty, nothing stale
# survives, the cache and its sweeper come back by themselves.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
querycache.sweep_interval = '1s'
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE t (v int);
INSERT INTO t VALUES (1);
});
my $wrap = "SELECT querycache_wrap('t:v', 'SELECT v FROM t')";
is($node->safe_psql('postgres', $wrap), '[{"v": 1}]', 'filled');
is($node->safe_psql('postgres', $wrap), '[{"v": 1}]', 'hit');
is($node->safe_psql('postgres', 'SELECT entries, hits FROM querycache_stats'), '1|1', 'one entry, one hit');

# A write whose commit lands, then a backend dies by SIGKILL: the postmaster
# reinitializes shared memory.
$node->safe_psql('postgres', 'UPDATE t SET v = 2');
my $psql = $node->background_psql('postgres');
my $pid = $psql->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $pid;
eval { $psql->quit; };
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server back after the crash');

is($node->safe_psql('postgres', 'SELECT entries, hits FROM querycache_stats'), '0|0',
	'the cache is empty after crash recovery');
is($node->safe_psql('postgres', $wrap), '[{"v": 2}]', 'fresh data after the crash');
is($node->safe_psql('postgres', $wrap), '[{"v": 2}]', 'and cached again');
ok($node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'querycache sweeper'", '1'),
	'the sweeper is restarted');

# A clean restart also starts empty.
$node->restart;
is($node->safe_psql('postgres', 'SELECT entries FROM querycache_stats'), '0', 'empty after restart');
$node->safe_psql('postgres', 'UPDATE t SET v = 3');
is($node->safe_psql('postgres', $wrap), '[{"v": 3}]', 'fresh data after restart');

# An immediate shutdown (no checkpoint) and crash recovery: same.
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $wrap), '[{"v": 3}]', 'fresh after immediate stop and recovery');

$node->stop;
done_testing();
