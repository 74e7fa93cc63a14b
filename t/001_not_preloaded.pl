# Without shared_preload_libraries, querycache refuses to work, loudly and
# safely: every SQL function fails with a hint, writes to watched tables
# still succeed, and there is no silent per-backend cache.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE TABLE agents (id int, name text)');
$node->safe_psql('postgres', 'CREATE EXTENSION querycache');
pass('CREATE EXTENSION works without preloading');

foreach my $call ("SELECT querycache_wrap('k', 'SELECT 1')",
	"SELECT querycache_get('k')",
	"SELECT querycache_set('k', '1')",
	"SELECT querycache_delete('k')",
	"SELECT querycache_clear_all()",
	"SELECT * FROM querycache_stats",
	"SELECT * FROM querycache_entries")
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $call);
	isnt($ret, 0, "fails: $call");
	like($stderr,
		qr/querycache is not loaded through shared_preload_libraries.*\n.*HINT:  Add querycache to shared_preload_libraries in postgresql.conf and restart the server/,
		"clear error and hint: $call");
}

# The trigger installed by CREATE EXTENSION does not block writes.
is($node->safe_psql('postgres',
	"INSERT INTO agents VALUES (1, 'a'); UPDATE agents SET name = 'b'; SELECT count(*) FROM agents"),
	'1', 'writes to a watched table work');

# Once preloaded, the same database works.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'querycache'");
$node->restart;
is($node->safe_psql('postgres', "SELECT querycache_wrap('k', 'SELECT name FROM agents')"),
	'[{"name": "b"}]', 'works after adding it to shared_preload_libraries');

$node->stop;
done_testing();
