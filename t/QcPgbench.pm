# Run weighted pgbench scripts against a TAP node, for the stress tests.
package QcPgbench;

use strict;
use warnings;
use IPC::Run;
use Exporter 'import';
our @EXPORT = qw(run_pgbench start_pgbench finish_pgbench script_transactions);

# run_pgbench($node, $seconds, [name, weight, body], ...): 8 clients, 2
# threads; returns (ran_to_the_end, stdout, stderr).  A script that fails an
# assertion divides by zero, which aborts its client and the run.
sub run_pgbench
{
	my ($node, $seconds, @scripts) = @_;

	return finish_pgbench(start_pgbench($node, { seconds => $seconds }, @scripts));
}

# start_pgbench($node, {seconds => T, clients => 8, threads => 2, rate => R},
# [name, weight, body], ...): the same run in the background (several can
# run at once, against several nodes); finish_pgbench($handle) waits for it
# and returns (ran_to_the_end, stdout, stderr).  rate (-R) bounds the total
# transactions per second.
sub start_pgbench
{
	my ($node, $opt, @scripts) = @_;
	my @args = ('pgbench', '-n', '-c', $opt->{clients} // 8,
		'-j', $opt->{threads} // 2, '-T', $opt->{seconds});

	push @args, '-R', $opt->{rate} if $opt->{rate};
	foreach my $s (@scripts)
	{
		my ($name, $weight, $body) = @$s;
		my $path = $node->basedir . "/$name";

		open(my $fh, '>', $path) or die "could not write $path: $!";
		print $fh $body;
		close($fh);
		push @args, '-f', "$path\@$weight";
	}
	push @args, '-h', $node->host, '-p', $node->port, 'postgres';

	my $h = { out => '', err => '' };
	$h->{run} = IPC::Run::start(\@args, '>', \$h->{out}, '2>', \$h->{err});
	return $h;
}

sub finish_pgbench
{
	my ($h) = @_;
	my $ok = $h->{run}->finish;

	return ($ok, $h->{out}, $h->{err});
}

# script_transactions($stdout, $name): transactions pgbench ran with the
# script whose file name is $name (0 if not found).
sub script_transactions
{
	my ($out, $name) = @_;

	return $out =~ /^SQL script \d+: \S*\/\Q$name\E\n(?: - .*\n)*? - (\d+) transactions/m ? $1 : 0;
}

1;
