# Helpers for the standby tests: querycache's WAL records on a primary.
package QcStandby;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT = qw(qc_wal_ops qc_wait_release qc_stored_on_standby qc_waiting_on_debug_lock);

# qc_wal_ops($primary, $from): the op codes of querycache's records in the
# primary's WAL from LSN $from on, in order, as pg_waldump prints them
# without the module: 0 INVAL, 10 LEASE, 20 RELEASE, 30 RESET.
sub qc_wal_ops
{
	my ($primary, $from) = @_;
	my $to = $primary->lsn('insert');
	my $out = `pg_waldump -p ${\$primary->data_dir}/pg_wal --rmgr=custom163 -s $from -e $to 2>&1`;
	return ($out =~ /desc: UNKNOWN \((\d+)\)/g);
}

# qc_wait_release($primary, $standby, $from): wait until the primary
# released every standby lease taken since LSN $from (its last querycache
# record is a RELEASE and none follows for a second: a lease goes a tick or
# two after its last writer), then until the standby replayed that.
# Returns whether it happened.
sub qc_wait_release
{
	my ($primary, $standby, $from) = @_;
	my ($prev, $quiet) = ('', 0);

	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		my @ops = qc_wal_ops($primary, $from);
		my $sig = join(',', @ops);

		$quiet = $sig eq $prev ? $quiet + 1 : 0;
		$prev = $sig;
		if (@ops && $ops[-1] eq '20' && $quiet >= 10)
		{
			$primary->wait_for_catchup($standby);
			return 1;
		}
		usleep(100_000);
	}
	return 0;
}

# qc_stored_on_standby($standby, $key, $query): wrap KEY, QUERY on the
# standby, then whether KEY is stored and valid; retried until it is (or
# the timeout): the standby stores nothing until it is sure it missed no
# record (replica.c).
sub qc_stored_on_standby
{
	my ($standby, $key, $query) = @_;
	my $wrap = "SELECT querycache_wrap('$key', '$query')";
	my $valid = "SELECT coalesce((SELECT valid FROM querycache_entries WHERE key = '$key'), false)";

	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		$standby->safe_psql('postgres', $wrap);
		return 1 if $standby->safe_psql('postgres', $valid) eq 't';
		usleep(100_000);
	}
	return 0;
}

# qc_waiting_on_debug_lock($node): wait until a writer on NODE waits on
# advisory lock 4242 (querycache.debug_commit_lock = 4242, between its
# PRE_COMMIT bumps and record and its commit).
sub qc_waiting_on_debug_lock
{
	my ($node) = @_;

	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted");
}

1;
