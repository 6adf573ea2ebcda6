#!/usr/bin/perl
# Host side of the guest's QMP requests (started by tests/vm/run-vm.sh).
#
#   qmp-broker.pl SOCKET REQUEST_DIR DEVICES
#
# Connects to QEMU's QMP socket, then turns every REQUEST_DIR/NAME.req the
# guest writes (tests/vm/vbk-qmp) into one QMP command and writes QEMU's
# answer, one JSON line, to REQUEST_DIR/NAME.resp.  A request is one line:
#   device_del ID      waits for QEMU's DEVICE_DELETED event for ID (the
#                      guest has let the device go) before it answers
#   device_add ID      re-adds the device with run-vm.sh's properties
#                      (DEVICES: "ID<TAB>{device_add arguments}" lines)
#   query-blockstats   the block statistics of every disk
#   quit               stops QEMU
#   {...}              any QMP command as JSON, passed on as it is
# Unknown requests are answered with a QMP-style error object.
# Plain Perl (perl-base only): JSON is matched, not parsed.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;

my ($sock_path, $dir, $devices_file) = @ARGV;
die "usage: qmp-broker.pl SOCKET REQUEST_DIR DEVICES\n" unless defined $devices_file;
my $DEL_TIMEOUT = 30;

my %devices;
if (open(my $fh, '<', $devices_file)) {
	while (<$fh>) {
		chomp;
		my ($id, $json) = split /\t/, $_, 2;
		$devices{$id} = $json if defined $json;
	}
	close $fh;
}

# QEMU creates the socket a moment after it starts.
my $qmp;
for (1 .. 600) {
	$qmp = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock_path);
	last if $qmp;
	select(undef, undef, undef, 0.1);
}
die "qmp-broker: cannot connect to $sock_path: $!\n" unless $qmp;
$qmp->autoflush(1);
my $sel = IO::Select->new($qmp);
my $buf = '';
my @events;    # DEVICE_DELETED lines not yet claimed by a device_del
my $seq = 0;

# One line from QEMU, or undef on EOF; waits at most $timeout seconds.
sub read_line {
	my ($timeout) = @_;
	my $deadline = time + $timeout;
	while (1) {
		if ($buf =~ s/^([^\n]*)\n//) {
			return $1;
		}
		my $left = $deadline - time;
		return '' if $left <= 0;
		next unless $sel->can_read($left > 1 ? 1 : $left);
		my $n = sysread($qmp, $buf, 65536, length $buf);
		exit 0 unless $n;    # QEMU is gone
	}
}

# Sends one command and returns its answer, keeping events for later.
sub command {
	my ($json) = @_;
	my $id = 'vbk' . ++$seq;
	$json =~ s/\}\s*$/,"id":"$id"}/;
	print $qmp "$json\n";
	while (1) {
		my $line = read_line(60);
		return qq({"error":{"class":"GenericError","desc":"no answer from QEMU within 60 s"}})
			if $line eq '';
		if ($line =~ /"event"\s*:/) {
			push @events, $line if $line =~ /"DEVICE_DELETED"/;
			next;
		}
		return $line if $line =~ /"id"\s*:\s*"$id"/;
	}
}

sub wait_deleted {
	my ($id) = @_;
	my $deadline = time + $DEL_TIMEOUT;
	my $match = sub { $_[0] =~ /"event"\s*:\s*"DEVICE_DELETED"/ && $_[0] =~ /"device"\s*:\s*"\Q$id\E"/ };
	while (1) {
		for my $i (0 .. $#events) {
			if ($match->($events[$i])) {
				splice @events, $i, 1;
				return 1;
			}
		}
		my $left = $deadline - time;
		return 0 if $left <= 0;
		my $line = read_line($left);
		push @events, $line if $line =~ /"DEVICE_DELETED"/;
	}
}

sub error_json {
	my ($desc) = @_;
	$desc =~ s/["\\]/'/g;
	return qq({"error":{"class":"GenericError","desc":"$desc"}});
}

sub handle {
	my ($req) = @_;
	$req =~ s/^\s+|\s+$//g;
	if ($req =~ /^\{/) {
		return command($req);
	}
	if ($req =~ /^device_del\s+([\w-]+)$/) {
		my $id = $1;
		@events = grep { !/"device"\s*:\s*"\Q$id\E"/ } @events;
		my $r = command(qq({"execute":"device_del","arguments":{"id":"$id"}}));
		return $r unless $r =~ /"return"/;
		return wait_deleted($id) ? $r
			: error_json("no DEVICE_DELETED for $id within $DEL_TIMEOUT s (did the guest eject it?)");
	}
	if ($req =~ /^device_add\s+([\w-]+)$/) {
		return error_json("unknown device $1") unless exists $devices{$1};
		return command(qq({"execute":"device_add","arguments":$devices{$1}}));
	}
	return command('{"execute":"query-blockstats"}') if $req eq 'query-blockstats';
	return command('{"execute":"quit"}') if $req eq 'quit';
	return error_json("unknown request: $req");
}

read_line(30);    # the greeting
my $caps = command('{"execute":"qmp_capabilities"}');
die "qmp-broker: qmp_capabilities failed: $caps\n" unless $caps =~ /"return"/;
print STDERR "qmp-broker: connected\n";

while (1) {
	# Keep reading events so QEMU never blocks on a full socket.
	if ($sel->can_read(0.1)) {
		my $n = sysread($qmp, $buf, 65536, length $buf);
		exit 0 unless $n;
		while ($buf =~ s/^([^\n]*)\n//) {
			push @events, $1 if $1 =~ /"DEVICE_DELETED"/;
		}
	}
	opendir(my $dh, $dir) or next;
	my @reqs = sort grep { /^[\w.-]+\.req$/ } readdir $dh;
	closedir $dh;
	for my $name (@reqs) {
		my $path = "$dir/$name";
		open(my $fh, '<', $path) or next;
		my $req = do { local $/; <$fh> } // '';
		close $fh;
		unlink $path;
		(my $base = $name) =~ s/\.req$//;
		print STDERR "qmp-broker: $base: $req";
		my $resp = handle($req);
		print STDERR "qmp-broker: $base -> ", (length $resp > 300 ? substr($resp, 0, 300) . "..." : $resp), "\n";
		open(my $out, '>', "$dir/$base.resp.tmp") or next;
		print $out "$resp\n";
		close $out;
		rename "$dir/$base.resp.tmp", "$dir/$base.resp";
	}
}
