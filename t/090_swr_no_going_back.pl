# Stale-while-revalidate keeps a refresh the fence rejected as the entry's
# last value (api.c, known_stale), but never in place of a valid entry or
# of one filled from a newer snapshot: the cache must not go back in time.
# Reproduction of a hostile review: a slow fill that fills alone (its
# transaction has a pending write elsewhere) overlapped a commit, another
# backend meanwhile stored the new value, then the slow fill finished.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'querycache'\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION querycache;
CREATE TABLE t (v text);
INSERT INTO t VALUES ('old');
CREATE TABLE cfg (s float8);
INSERT INTO cfg VALUES (3);
CREATE TABLE z (i int);
INSERT INTO querycache_policies (pattern, stale_while_revalidate) VALUES ('^s:', interval '20 seconds');
});

my $wrap = q{SELECT querycache_wrap('s:t', 'SELECT t.v, pg_sleep(c.s) FROM t, cfg c') ->0->>'v'};

# A: a pending write to another table, so it fills alone; 3 s, on a
# snapshot from before W
my $a = $node->background_psql('postgres');
$a->query_until(qr/started/, qq{
\\echo started
BEGIN;
INSERT INTO z VALUES (1);
$wrap;
});
usleep(700_000);
# W: the new value, and fast fills from now on
$node->safe_psql('postgres', q{BEGIN; UPDATE t SET v = 'new'; UPDATE cfg SET s = 0; COMMIT;});
is($node->safe_psql('postgres', $wrap), 'new', 'B fills the new value');
is($node->safe_psql('postgres', "SELECT valid FROM querycache_entries WHERE key = 's:t'"), 't', 'and stores it');
$a->query_safe('COMMIT');
$a->quit;
is($node->safe_psql('postgres', 'SELECT discarded FROM querycache_stats'), '1',
	'A\'s fill, which W overlapped, was discarded');
is($node->safe_psql('postgres', "SELECT valid FROM querycache_entries WHERE key = 's:t'"), 't',
	'B\'s valid entry is still there');
is($node->safe_psql('postgres', $wrap), 'new', 'the cache does not go back to A\'s old value');
is($node->safe_psql('postgres', 'SELECT stale_hits FROM querycache_stats'), '0', 'no stale hit');

$node->stop;
done_testing();
