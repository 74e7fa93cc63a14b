# Run weighted pgbench scripts against a TAP node, for the stress tests.
package QcPgbench;

use strict;
use warnings;
use IPC::Run;
use Exporter 'import';
our @EXPORT = qw(run_pgbench);

# run_pgbench($node, $seconds, [name, weight, body], ...): 8 clients, 2
# threads; returns (ran_to_the_end, stdout, stderr).  A script that fails an
# assertion divides by zero, which aborts its client and the run.
sub run_pgbench
{
	my ($node, $seconds, @scripts) = @_;
	my @args = ('pgbench', '-n', '-c', '8', '-j', '2', '-T', $seconds);

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

	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(\@args, '>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

1;
