#!/bin/bash
# PID 1 of the VirtioBlk test VM (started by tests/vm/run-vm.sh; not for the host).
#
# The root file system is the host's, read-only over 9p.  The kernel passes
# these variables from its command line:
#   vbk_repo  the project directory; the "project" 9p share is mounted there
#   vbk_job   the run's job directory ("job" share): cmd.sh, rc
#   vbk_results  optional results directory ("results" share), same path
#   vbk_mode  "command" or "shell"
# The command sees VBK_GUEST=1, VBK_RESULTS (empty without --results) and
# VBK_JOB (the job directory: tests/vm/vbk-qmp sends QMP requests there).
# It runs $vbk_job/cmd.sh in the project directory, prints
# "=== vbk: exit <rc> ===", writes the code to $vbk_job/rc, syncs and powers off.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
	echo "=== vbk: power-off did not happen ==="
	exit 1	# PID 1 exiting panics the kernel; panic=-1 and -no-reboot stop QEMU
}

fail() {
	echo "=== vbk: init failed: $* ==="
	echo "=== vbk: exit 125 ==="
	poweroff_now
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm
for d in /tmp /run /dev/shm; do
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d" || fail "mount tmpfs on $d"
done
mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620 devpts /dev/pts 2>/dev/null

opts=trans=virtio,version=9p2000.L,msize=512000
[ -n "$vbk_repo" ] || fail "vbk_repo not set"
# Under /tmp on the host, these paths are hidden by the tmpfs: recreate them.
mkdir -p "$vbk_repo" "$vbk_job" ${vbk_results:+"$vbk_results"} 2>/dev/null
mount -t 9p -o "$opts" project "$vbk_repo" || fail "mount project share on $vbk_repo"
mount -t 9p -o "$opts" job "$vbk_job" || fail "mount job share on $vbk_job"
if [ -n "$vbk_results" ]; then
	mount -t 9p -o "$opts" results "$vbk_results" || fail "mount results share on $vbk_results"
fi

hostname vbk-guest 2>/dev/null
ip link set lo up 2>/dev/null || true

export HOME=/tmp/home TMPDIR=/tmp
# For the command: where results go, and that it runs in the test VM (where
# /dev/vda is the scratch disk "vbfile", not the host's disk).
export VBK_RESULTS=${vbk_results:-} VBK_GUEST=1 VBK_JOB=$vbk_job
mkdir -p "$HOME"
export LANG=C.UTF-8 TERM=${TERM:-linux} NO_COLOR=1
# .NET: the host's SDK and package cache (read-only), scratch state on tmpfs.
export DOTNET_ROOT=${DOTNET_ROOT:-/usr/share/dotnet}
export NUGET_PACKAGES=${vbk_nuget:-/root/.nuget/packages}
export DOTNET_CLI_HOME=$HOME
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_GENERATE_ASPNET_CERTIFICATE=false DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=true
export DOTNET_CLI_USE_MSBUILD_SERVER=0 MSBUILDDISABLENODEREUSE=1
export POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off
export PATH=/tmp/bin:$DOTNET_ROOT:$HOME/.dotnet/tools:$PATH

# pwsh: the project's local tool (pwsh.dll in the NuGet cache) behind a wrapper.
mkdir -p /tmp/bin
if ! command -v pwsh >/dev/null; then
	want=$(sed -n '/"powershell"/,/}/s/.*"version": *"\([^"]*\)".*/\1/p' \
		"$vbk_repo/.config/dotnet-tools.json" 2>/dev/null | head -n1)
	dll=
	[ -n "$want" ] && dll=$(ls "$NUGET_PACKAGES/powershell/$want"/tools/*/any/unix/pwsh.dll 2>/dev/null | head -n1)
	[ -n "$dll" ] || dll=$(ls "$NUGET_PACKAGES"/powershell/*/tools/*/any/unix/pwsh.dll 2>/dev/null | sort -V | tail -n1)
	if [ -n "$dll" ]; then
		printf '#!/bin/sh\nexec dotnet "%s" "$@"\n' "$dll" >/tmp/bin/pwsh
		chmod +x /tmp/bin/pwsh
	fi
fi

cd "$vbk_repo" || fail "cd $vbk_repo"

if [ "$vbk_mode" = shell ]; then
	echo "=== vbk: interactive shell in $vbk_repo (exit or Ctrl-D powers off) ==="
	setsid -c bash -i </dev/ttyS0 >/dev/ttyS0 2>&1
	rc=$?
else
	echo "=== vbk: begin ==="
	bash "$vbk_job/cmd.sh" </dev/null
	rc=$?
fi
echo "$rc" >"$vbk_job/rc"
echo "=== vbk: exit $rc ==="
poweroff_now
