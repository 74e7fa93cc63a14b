# Logical replication with two_phase = true: a replicated prepared
# transaction must invalidate the subscriber's entries when the apply
# worker commits it.
#
# *** FAILS on 1.1 (the tests marked BUG below): a bug found while writing
# *** the issue 11 tests, kept here until it is fixed.
#
# With two_phase, the apply worker applies a publisher's PREPARE TRANSACTION
# as a local PREPARE, and its COMMIT PREPARED by calling
# FinishPreparedTransaction() itself.  The watched table's row trigger
# records t as pending while the prepared transaction's changes are
# applied, but the PREPARE event drops the pending set (gen.c: "COMMIT
# PREPARED owes the cluster epoch"), and the apply worker's COMMIT PREPARED
# never passes the utility hook that owes it (track.c), so nothing is ever
# bumped: the subscriber keeps serving the count from before, until the TTL
# or the next ordinary write to t.  A plain (one-phase) transaction in the
# same subscription invalidates as it should (060_logical_replication.pl).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $conf = qq{
shared_preload_libraries = 'querycache'
max_prepared_transactions = 5
};

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', $conf);
$pub->start;

my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->append_conf('postgresql.conf', $conf);
$sub->start;

my $table = 'CREATE TABLE t (id int PRIMARY KEY, v int);';
$pub->safe_psql('postgres', $table . q{
CREATE EXTENSION querycache;
INSERT INTO t VALUES (1, 10);
CREATE PUBLICATION pub FOR TABLE t;
});
$sub->safe_psql('postgres', $table . q{
CREATE EXTENSION querycache;
SELECT querycache_watch('t');
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$connstr' PUBLICATION pub WITH (two_phase = true)");
$sub->wait_for_subscription_sync($pub, 'sub');
# two_phase is enabled once the initial sync is done
$sub->poll_query_until('postgres',
	"SELECT subtwophasestate = 'e' FROM pg_subscription WHERE subname = 'sub'")
  or die 'two_phase was not enabled';

my $wrap = "SELECT querycache_wrap('t:n', 'SELECT count(*) AS n FROM t')";
sub valid
{
	return $sub->safe_psql('postgres',
		"SELECT coalesce((SELECT valid FROM querycache_entries WHERE key = 't:n'), false)");
}
sub count_t { return $sub->safe_psql('postgres', 'SELECT count(*) FROM t'); }

is($sub->safe_psql('postgres', $wrap), '[{"n": 1}]', 'filled');

# control: a one-phase transaction invalidates
$pub->safe_psql('postgres', 'INSERT INTO t VALUES (2, 20)');
$pub->wait_for_catchup('sub');
is(valid(), 'f', 'a replicated one-phase INSERT invalidates');
is($sub->safe_psql('postgres', $wrap), '[{"n": 2}]', 'and the new count is served');

# a prepared transaction: nothing visible, nothing invalidated yet
$pub->safe_psql('postgres',
	"BEGIN; INSERT INTO t VALUES (3, 30); PREPARE TRANSACTION 'qc_2pc_a'");
$pub->wait_for_catchup('sub');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '1',
	'the transaction is prepared on the subscriber');
is($sub->safe_psql('postgres', $wrap), '[{"n": 2}]', 'its row is not visible yet');

# COMMIT PREPARED on the publisher, applied by the apply worker
$pub->safe_psql('postgres', "COMMIT PREPARED 'qc_2pc_a'");
$pub->wait_for_catchup('sub');
is(count_t(), '3', 'the prepared row is committed on the subscriber');
is(valid(), 'f', 'BUG: the applied COMMIT PREPARED invalidates t:n');
is($sub->safe_psql('postgres', $wrap), '[{"n": 3}]',
	'BUG: the wrap returns the committed count, not the one cached before');

# ROLLBACK PREPARED changes nothing
$sub->safe_psql('postgres', 'SELECT querycache_clear_all()');
is($sub->safe_psql('postgres', $wrap), '[{"n": 3}]', 'refilled after clearing');
$pub->safe_psql('postgres',
	"BEGIN; INSERT INTO t VALUES (4, 40); PREPARE TRANSACTION 'qc_2pc_b'");
$pub->wait_for_catchup('sub');
$pub->safe_psql('postgres', "ROLLBACK PREPARED 'qc_2pc_b'");
$pub->wait_for_catchup('sub');
is(count_t(), '3', 'the rolled back row never appears');
is($sub->safe_psql('postgres', $wrap), '[{"n": 3}]', 'and the count is unchanged');

$sub->stop;
$pub->stop;
done_testing();
