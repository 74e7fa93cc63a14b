# Store integrity under concurrent eviction: 8 clients fill and hit 5000
# keys of varied sizes through a cache of 300 entries and 1 MB, while others
# clear patterns; the sweeper runs every second.  Every value returned must
# be the one of its key, whole values received as text (hits send the stored
# text, output.c) must be exactly the value's jsonb text, and the bounds must
# hold throughout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use QcPgbench;

my $seconds = $ENV{QC_STRESS_SECONDS} || 10;

my $node = PostgreSQL::Test::Cluster->new('store_stress');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
querycache.max_entries = 300
querycache.max_memory = '1MB'
querycache.max_entry_size = '64kB'
querycache.sweep_interval = '1s'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION querycache');

my ($ok, $out, $err) = run_pgbench(
	$node, $seconds,
	[ 'fill_hit.sql', 20, q{
\set k random(1, 5000)
SELECT (querycache_wrap('s:' || :k, 'SELECT $1::int AS k, repeat(''x'', ($1 * 37) % 20000) AS pad', interval '2 seconds', :k)->0->>'k')::int AS got \gset
SELECT CASE WHEN :got = :k THEN 1 ELSE 1 / 0 END AS right_value;
SELECT coalesce((querycache_get('s:' || :k)->0->>'k')::int, :k) AS got2 \gset
SELECT CASE WHEN :got2 = :k THEN 1 ELSE 1 / 0 END AS right_value_get;
} ],
	[ 'whole_value.sql', 10, q{
\set k random(1, 5000)
SELECT querycache_wrap('s:' || :k, 'SELECT $1::int AS k, repeat(''x'', ($1 * 37) % 20000) AS pad', interval '2 seconds', :k) AS doc \gset
SELECT CASE WHEN ':doc' = (SELECT jsonb_agg(to_jsonb(t))::text
		FROM (SELECT :k AS k, repeat('x', (:k * 37) % 20000) AS pad) AS t)
	THEN 1 ELSE 1 / (0 * random())::int END AS right_text;
} ],
	[ 'clear.sql', 1, q{
\set d random(1, 9)
SELECT querycache_clear_pattern('^s:' || :d || '[0-9]?$');
} ],
	[ 'bounds.sql', 2, q{
SELECT CASE WHEN entries <= max_entries AND memory_bytes <= max_memory_bytes
			THEN 1 ELSE 1 / (0 * random())::int END	-- volatile: not folded at plan time
  FROM querycache_stats;
} ]);
note($out);
ok($ok, 'pgbench ran to the end') or diag($err);
unlike($err, qr/aborted|division by zero/, 'every value matched its key, bounds held');

my ($entries, $evictions, $hits) = split(/\|/, $node->safe_psql('postgres',
	'SELECT entries, evictions, hits FROM querycache_stats'));
note("entries $entries, evictions $evictions, hits $hits");
cmp_ok($evictions, '>', 1000, 'eviction was exercised');
cmp_ok($hits, '>', 100, 'hits were exercised');

# Nothing leaked: once everything expires and is swept, all memory is back.
ok($node->poll_query_until('postgres',
	'SELECT entries = 0 AND memory_bytes = 0 FROM querycache_stats'),
	'all slots and blocks return to the free lists');

$node->stop;
done_testing();
