# Stress on a hot standby: writers commit and roll back on the primary while
# readers on the standby call querycache_wrap (replica.c).
#
# Every read first reads the committed version directly on the standby (the
# floor: at least what the standby had replayed when the read began), then
# through the cache.  The cached version must never be older than the floor;
# rolled-back versions (negative) are never seen.  A violation divides by
# zero, which aborts the pgbench client and fails the run.  The standby's
# hit ratio is printed and must be real.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use QcPgbench;

my $seconds = $ENV{QC_STRESS_SECONDS} || 15;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
querycache.sweep_interval = '1s'
max_connections = 40
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE ver (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO ver VALUES (1, 0), (2, 0);
CREATE TABLE cold (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO cold VALUES (1, 42);
CREATE TABLE noise (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO noise VALUES (1, 0);
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# feedback keeps the primary from pruning rows the standby's readers still
# see: no query is cancelled by a replay conflict
$standby->append_conf('postgresql.conf', qq{
hot_standby_feedback = on
wal_receiver_status_interval = '1s'
});
$standby->start;

# After a start the standby stores nothing until a transaction that began
# after it finished (replica.c): the first fill chooses the horizon, a
# write on the primary passes it.
my $cold = "querycache_wrap('cold', 'SELECT v FROM cold WHERE id = 1')";
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT $cold"), '[{"v": 42}]', 'standby reads through the cache');
$primary->safe_psql('postgres', 'UPDATE noise SET v = v + 1');
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres',
		"SELECT (SELECT valid FROM querycache_entries WHERE key = 'cold') FROM (SELECT $cold) w"),
	'the standby stores its own entries');
$standby->safe_psql('postgres', 'SELECT querycache_stats_reset()');

# Writers on the primary, rate-limited so that readers see hits between
# writes: increments of ver (row 1 and row 2, plain and inside a
# subtransaction), rolled-back negative versions, writes to a table no
# reader reads.
my $writers = start_pgbench(
	$primary, { seconds => $seconds, clients => 2, threads => 1, rate => 100 },
	[ 'w_ver1.sql', 4, q{
UPDATE ver SET v = v + 1 WHERE id = 1;
} ],
	[ 'w_ver2.sql', 1, q{
UPDATE ver SET v = v + 1 WHERE id = 2;
} ],
	[ 'w_subxact.sql', 1, q{
BEGIN;
SAVEPOINT s;
UPDATE ver SET v = v + 1 WHERE id = 1;
RELEASE SAVEPOINT s;
SAVEPOINT t;
UPDATE ver SET v = -v - 1 WHERE id = 2;
ROLLBACK TO SAVEPOINT t;
COMMIT;
} ],
	[ 'w_rollback.sql', 2, q{
BEGIN;
UPDATE ver SET v = -v - 1 WHERE id = 1;
ROLLBACK;
} ],
	[ 'w_noise.sql', 2, q{
UPDATE noise SET v = v + 1 WHERE id = 1;
} ]);

# Readers on the standby.  r_ver checks three keys on ver against floors
# read directly just before; r_cold reads a key the writers never touch.
my $readers = start_pgbench(
	$standby, { seconds => $seconds, clients => 4, threads => 2 },
	[ 'r_ver.sql', 1, q{
SELECT v AS floor FROM ver WHERE id = 1 \gset
SELECT (querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')->0->>'v')::bigint AS w \gset
SELECT CASE WHEN :w >= :floor THEN 1 ELSE 1 / 0 END AS wrap_is_fresh;
SELECT sum(v) AS floor2, min(v) AS low FROM ver \gset
SELECT (j->>'s')::bigint AS s, (j->>'m')::bigint AS m
	FROM (SELECT querycache_wrap('ver:sum', 'SELECT sum(v) AS s, min(v) AS m FROM ver')->0 AS j) w \gset
SELECT CASE WHEN :s >= :floor2 AND :m >= 0 AND :low >= 0 THEN 1 ELSE 1 / 0 END AS sum_is_fresh;
SELECT v AS floor3 FROM ver WHERE id = 1 \gset
SELECT coalesce((querycache_get('ver:1')->0->>'v')::bigint, :floor3) AS g \gset
SELECT CASE WHEN :g >= :floor3 THEN 1 ELSE 1 / 0 END AS get_is_fresh;
} ],
	[ 'r_cold.sql', 1, q{
SELECT (querycache_wrap('cold', 'SELECT v FROM cold WHERE id = 1')->0->>'v')::bigint AS c \gset
SELECT CASE WHEN :c = 42 THEN 1 ELSE 1 / 0 END AS cold_is_right;
} ]);

my ($wok, $wout, $werr) = finish_pgbench($writers);
my ($rok, $rout, $rerr) = finish_pgbench($readers);
note("writers:\n$wout");
note("readers:\n$rout");
ok($wok, 'the writers ran to the end') or diag($werr);
ok($rok, 'the readers ran to the end') or diag($rerr);
unlike($rerr, qr/aborted|division by zero|conflict/,
	'no standby read returned a version older than one it had replayed');
like($wout, qr/number of transactions actually processed: [1-9]\d\d/, 'writers committed hundreds of transactions');

my $ver_reads = script_transactions($rout, 'r_ver.sql');
my $cold_reads = script_transactions($rout, 'r_cold.sql');
cmp_ok($ver_reads, '>', 100, "readers read ver $ver_reads times");

my ($hits, $misses, $fills, $discarded, $ratio) = split(/\|/, $standby->safe_psql('postgres',
	'SELECT hits, misses, fills, discarded, round(hit_ratio::numeric, 3) FROM querycache_stats'));
diag("standby querycache_stats: hits $hits, misses $misses, fills $fills, discarded $discarded, "
	  . "hit_ratio $ratio ($ver_reads ver reads, $cold_reads cold reads)");
cmp_ok($ratio, '>', 0.2, 'the standby serves a real share of its reads from its cache');
cmp_ok($fills, '>', 10, 'and fills again after replayed writes');
# A cold read is at most one hit: the rest were hits on ver, whose writes
# replay all the time, so the freshness checks above compared real hits.
cmp_ok($hits - $cold_reads, '>', 0, 'entries on the written table were hit too ('
	  . ($hits - $cold_reads) . ' at least)');

# Quiet again: everything replayed, the cache agrees with the table.
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT querycache_wrap('ver:sum', 'SELECT sum(v) AS s, min(v) AS m FROM ver')->0 = "
		  . "(SELECT to_jsonb(x) FROM (SELECT sum(v) AS s, min(v) AS m FROM ver) x)"),
	't', 'after the run the standby serves the replayed state');
is($standby->safe_psql('postgres',
		"SELECT querycache_wrap('ver:1', 'SELECT v FROM ver WHERE id = 1')->0->>'v'"),
	$primary->safe_psql('postgres', 'SELECT v FROM ver WHERE id = 1'),
	'and the primary\'s');

$standby->stop;
$primary->stop;
done_testing();
