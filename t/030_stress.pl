# Stress: writers, rolled-back writers and readers on one key for 20 s.
#
# Every read first reads the committed value directly (the floor), then
# through the cache.  The cached value must never be older than the floor:
# a read that starts after a commit became visible sees it.  Rolled-back
# values (negative) are never seen.  A violation divides by zero, which
# aborts the pgbench client and fails the run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use QcPgbench;

my $seconds = $ENV{QC_STRESS_SECONDS} || 20;

my $node = PostgreSQL::Test::Cluster->new('stress');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'querycache'
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE qc_stress (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO qc_stress VALUES (1, 0), (2, 0);
CREATE VIEW qc_stress_view AS SELECT v FROM qc_stress WHERE id = 1;
});

my ($ok, $out, $err) = run_pgbench(
	$node, $seconds,
	[ 'reader.sql', 10, q{
SELECT v AS floor FROM qc_stress WHERE id = 1 \gset
SELECT (querycache_wrap('stress:v', 'SELECT v FROM qc_stress WHERE id = 1')->0->>'v')::bigint AS w \gset
SELECT CASE WHEN :w >= :floor THEN 1 ELSE 1 / 0 END AS wrap_is_fresh;
SELECT v AS floor2 FROM qc_stress WHERE id = 1 \gset
SELECT coalesce((querycache_get('stress:v')->0->>'v')::bigint, :floor2) AS g \gset
SELECT CASE WHEN :g >= :floor2 THEN 1 ELSE 1 / 0 END AS get_is_fresh;
SELECT v AS floor3 FROM qc_stress WHERE id = 1 \gset
SELECT (querycache_wrap('stress:view', 'SELECT v FROM qc_stress_view')->0->>'v')::bigint AS wv \gset
SELECT CASE WHEN :wv >= :floor3 THEN 1 ELSE 1 / 0 END AS view_is_fresh;
} ],
	[ 'writer.sql', 3, q{
UPDATE qc_stress SET v = v + 1 WHERE id = 1;
} ],
	[ 'other_writer.sql', 2, q{
UPDATE qc_stress SET v = v + 1 WHERE id = 2;
} ],
	[ 'rollback.sql', 1, q{
BEGIN;
UPDATE qc_stress SET v = -v - 1 WHERE id = 1;
SELECT (querycache_wrap('stress:v', 'SELECT v FROM qc_stress WHERE id = 1')->0->>'v')::bigint AS own \gset
SELECT CASE WHEN :own < 0 THEN 1 ELSE 1 / 0 END AS sees_own_write;
ROLLBACK;
} ]);
note($out);
ok($ok, 'pgbench ran to the end') or diag($err);
unlike($err, qr/aborted|division by zero/, 'no read returned data older than a visible commit');
like($out, qr/number of transactions actually processed: [1-9]/, 'transactions were processed');

my ($hits, $fills) = split(/\|/, $node->safe_psql('postgres', 'SELECT hits, fills FROM querycache_stats'));
note("hits $hits, fills $fills");
cmp_ok($hits, '>', 100, 'the cache served hits under load (the test exercised it)');
cmp_ok($fills, '>', 10, 'and was refilled after writes');

$node->stop;
done_testing();
