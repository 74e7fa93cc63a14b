
# Copyright (c) querycache authors

# pg_dump / pg_restore of a database using querycache:
#  - what CREATE EXTENSION's migration 047 made (the unique constraint on
#    call_queue, call_queue_duplicates and the rows moved there, the seed's
#    user_id indexes) is ordinary user data and comes back as such;
#  - the config tables (querycache_ttl, querycache_rules) keep the rows users
#    added, without duplicating the extension's own rows;
#  - the invalidation triggers come back, and invalidation works on the
#    restored database.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# TAP tests run from the top of the source tree; don't rely on it.
my $schema_file =
  File::Spec->catfile(dirname(__FILE__), File::Spec->updir, 'scripts', 'schema.sql');
ok(-f $schema_file, "seed schema found at $schema_file")
  or BAIL_OUT("cannot find scripts/schema.sql");

sub new_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'querycache'\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE DATABASE app');
	return $node;
}

# Everything about the database this test checks, as one line per fact, so
# that the source and the restored copy can be compared as a whole.
my $facts_sql = q{
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conrelid = 'public.call_queue'::regclass AND contype = 'u'
UNION ALL
SELECT 'index ' || tablename || ' ' || indexname
FROM pg_indexes
WHERE schemaname = 'public' AND indexname LIKE 'idx\_%'
UNION ALL
SELECT 'queue ' || q::text FROM public.call_queue q
UNION ALL
SELECT 'duplicate ' || d::text
FROM (SELECT id, campaign_id, contact_id, status, attempts, created_at, moved_at
	  FROM public.call_queue_duplicates) d
UNION ALL
SELECT 'ttl ' || t::text FROM querycache_ttl t
UNION ALL
SELECT 'rule ' || r::text FROM querycache_rules r
UNION ALL
SELECT 'trigger agents ' || tgname
FROM pg_trigger WHERE tgrelid = 'public.agents'::regclass AND NOT tgisinternal
ORDER BY 1
};

# Members of the extension that live outside what its script defines: none
# of the migration's objects may be among them.
my $members_sql = q{
SELECT coalesce(string_agg(pg_describe_object(d.classid, d.objid, d.objsubid), ', '
						   ORDER BY 1), '')
FROM pg_depend d
WHERE d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'querycache')
  AND ((d.classid = 'pg_class'::regclass
		AND d.objid IN (SELECT oid FROM pg_class
						WHERE relname IN ('call_queue_duplicates',
										  'call_queue_campaign_contact_unique',
										  'idx_agents_user_id', 'idx_contacts_user_id',
										  'idx_campaigns_user_id')))
	   OR (d.classid = 'pg_constraint'::regclass
		   AND d.objid IN (SELECT oid FROM pg_constraint
						   WHERE conname = 'call_queue_campaign_contact_unique')))
};

#
# Node A: the app's schema and data, with the seed bug's duplicate, then
# CREATE EXTENSION (which runs migration 047).
#
my $node_a = new_node('dump_source');
$node_a->safe_psql('app', PostgreSQL::Test::Utils::slurp_file($schema_file));
$node_a->safe_psql(
	'app', q{
INSERT INTO users (id, email, name) VALUES
	(1, 'ann@example.com', 'Ann'),
	(2, 'bob@example.com', 'Bob');
INSERT INTO agents (user_id, name) VALUES (1, 'Agent A'), (2, 'Agent B');
INSERT INTO contacts (id, user_id, name, phone) VALUES
	(1, 1, 'Carl', '+15550001'),
	(2, 1, 'Dora', '+15550002');
INSERT INTO call_campaigns (id, user_id, agent_id, name) VALUES (1, 1, 1, 'spring');
-- id 2 duplicates id 1: the campaign created with one contact, queued twice
INSERT INTO call_queue (id, campaign_id, contact_id, status, attempts, created_at) VALUES
	(1, 1, 1, 'pending', 0, '2024-03-01 09:00:00+00'),
	(2, 1, 1, 'called',  2, '2024-03-01 09:00:00.25+00'),
	(3, 1, 2, 'pending', 0, '2024-03-01 09:00:01+00');
SELECT setval('call_queue_id_seq', 3);
});

$node_a->safe_psql('app', 'CREATE EXTENSION querycache');

is( $node_a->safe_psql(
		'app', q{
SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM call_queue) || ' / ' ||
	   (SELECT string_agg(id || ':' || status || ':' || attempts, ',' ORDER BY id)
		FROM call_queue_duplicates) || ' / ' ||
	   (SELECT count(*) FROM pg_constraint
		WHERE conname = 'call_queue_campaign_contact_unique'
		  AND conrelid = 'call_queue'::regclass)
}),
	'1,3 / 2:called:2 / 1',
	'CREATE EXTENSION moved the duplicate queue row and added the constraint');
is($node_a->safe_psql('app', $members_sql),
	'', 'migration objects are not extension members on the source');

# What users add to the config tables must survive the dump.
$node_a->safe_psql('app',
	q{INSERT INTO querycache_ttl (pattern, ttl) VALUES ('^custom:', '5 minutes')});
$node_a->safe_psql('app', q{SELECT querycache_watch('contacts', '^custom:')});
# a keyed rule, under a 'rules' policy: its key column and its row trigger
$node_a->safe_psql('app',
	q{INSERT INTO querycache_policies (pattern, depends) VALUES ('^ckeyed:', 'rules')});
$node_a->safe_psql('app',
	q{SELECT querycache_watch('contacts', '^ckeyed:([0-9]+)$', 'user_id')});
my $rules_a = $node_a->safe_psql('app',
	q{SELECT count(*) FROM querycache_rules});

my $triggers_a = $node_a->safe_psql('app',
	q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
	  WHERE tgrelid = 'agents'::regclass AND NOT tgisinternal});
isnt($triggers_a, '', "invalidation triggers on agents on the source ($triggers_a)");

my $facts_a = $node_a->safe_psql('app', $facts_sql);

#
# Dump A, restore into a fresh node B.
#
my $dumpfile = $node_a->basedir . '/app.dump';
$node_a->command_ok(
	[ 'pg_dump', '--format=custom', '--file', $dumpfile, '--dbname', $node_a->connstr('app') ],
	'pg_dump');

my $node_b = new_node('dump_target');
$node_b->command_checks_all(
	[ 'pg_restore', '--exit-on-error', '--dbname', $node_b->connstr('app'), $dumpfile ],
	0, [qr/^$/], [qr/^$/], 'pg_restore without errors or warnings');

#
# B has everything A had.
#
is($node_b->safe_psql('app', $facts_sql), $facts_a,
	'constraint, indexes, queue rows, moved rows, config rows and triggers restored as they were');

is( $node_b->safe_psql(
		'app', q{
SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'call_queue'::regclass AND contype = 'u'}),
	'call_queue_campaign_contact_unique UNIQUE (campaign_id, contact_id)',
	'unique constraint restored');
is( $node_b->safe_psql(
		'app', q{
SELECT string_agg(id || ':' || campaign_id || ':' || contact_id || ':' || status, ',' ORDER BY id)
FROM call_queue_duplicates}),
	'2:1:1:called',
	'call_queue_duplicates holds the moved row');
is( $node_b->safe_psql(
		'app', q{
SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
WHERE schemaname = 'public' AND indexname LIKE 'idx\_%'}),
	'idx_agents_user_id,idx_campaigns_user_id,idx_contacts_user_id',
	'seed indexes restored');
is($node_b->safe_psql('app', $members_sql),
	'', 'migration objects are not extension members after restore');

is( $node_b->safe_psql(
		'app', q{
SELECT count(*) FROM querycache_ttl WHERE pattern = '^custom:' AND ttl = '5 minutes'}),
	'1',
	'user-added querycache_ttl row restored, once');
is( $node_b->safe_psql('app', q{
SELECT count(*) FROM (SELECT pattern FROM querycache_ttl GROUP BY pattern HAVING count(*) > 1) d}),
	'0', 'no querycache_ttl pattern restored twice');
is( $node_b->safe_psql(
		'app', q{
SELECT count(*) FROM querycache_rules
WHERE table_name = 'contacts'::regclass AND pattern = '^custom:'}),
	'1',
	'user-added querycache_rules row restored, once');
is($node_b->safe_psql('app', q{SELECT count(*) FROM querycache_rules}),
	$rules_a, 'querycache_rules rows restored, none twice');
is( $node_b->safe_psql(
		'app', q{
SELECT key_column FROM querycache_rules
WHERE table_name = 'contacts'::regclass AND pattern = '^ckeyed:([0-9]+)$'}),
	'user_id',
	'keyed rule restored with its key column');
is( $node_b->safe_psql(
		'app', q{
SELECT tgenabled::text || ' ' || pg_get_triggerdef(oid) FROM pg_trigger
WHERE tgrelid = 'contacts'::regclass AND tgname = 'querycache_invalidate_keyed'}),
	q{A CREATE TRIGGER querycache_invalidate_keyed AFTER INSERT OR DELETE OR UPDATE ON public.contacts FOR EACH ROW EXECUTE FUNCTION querycache_invalidate_keyed('user_id')},
	'keyed trigger restored, enabled ALWAYS');

is( $node_b->safe_psql(
		'app', q{
SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
WHERE tgrelid = 'agents'::regclass AND NOT tgisinternal}),
	$triggers_a,
	'invalidation triggers on agents restored');

# The constraint works on B.
my ($ret, $stdout, $stderr) = $node_b->psql('app',
	q{INSERT INTO call_queue (campaign_id, contact_id) VALUES (1, 1)});
isnt($ret, 0, 'duplicate queue entry refused on the restored database');
like($stderr, qr/call_queue_campaign_contact_unique/, '... by the migration 047 constraint');

#
# Invalidation works after the restore: fill the cache, check it is served,
# write, and get the new count.
#
sub agents_count
{
	my ($key) = @_;
	my $r = $node_b->safe_psql('app',
		qq{SELECT querycache_wrap('$key', 'SELECT count(*) AS n FROM agents')});
	my ($n) = $r =~ /"n"\s*:\s*"?(\d+)/;
	($n) = $r =~ /(\d+)/ unless defined $n;
	return ($n, $r);
}

my ($n0, $r0) = agents_count('agents:x');
is($n0, 2, "querycache_wrap counts the agents ($r0)");
my ($n0b) = agents_count('agents:x');
is($n0b, $n0, 'same result the second time');
is( $node_b->safe_psql(
		'app', q{
SELECT hits FROM querycache_entries
WHERE key = 'agents:x' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())}),
	'1',
	'... served from the cache');

$node_b->safe_psql('app', q{INSERT INTO agents (user_id, name) VALUES (1, 'Agent C')});

my ($n1, $r1) = agents_count('agents:x');
is($n1, $n0 + 1, "the INSERT into agents invalidated the entry ($r1)");
my ($fresh) = agents_count('agents:fresh');
is($n1, $fresh, 'and the result equals a fresh computation');

# The keyed rule works on B: a contact of user 1 invalidates user 1's key,
# not user 2's.
$node_b->safe_psql('app', q{
SELECT querycache_wrap('ckeyed:1', 'SELECT count(*) AS n FROM contacts WHERE user_id = 1');
SELECT querycache_wrap('ckeyed:2', 'SELECT count(*) AS n FROM contacts WHERE user_id = 2');
INSERT INTO contacts (id, user_id, name, phone) VALUES (3, 1, 'Erin', '+15550003');
});
is( $node_b->safe_psql(
		'app', q{
SELECT string_agg(key || '=' || valid, ',' ORDER BY key) FROM querycache_entries
WHERE key LIKE 'ckeyed:%'}),
	'ckeyed:1=false,ckeyed:2=true',
	'keyed rule on the restored database: only user 1\'s key invalidated');

$node_a->stop;
$node_b->stop;

done_testing();
