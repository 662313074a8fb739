#!/usr/bin/env bash
# Stop slurm-ml's local test cluster (see up.sh). Stops daemons by pid file
# only, waits until they have exited. Idempotent. State (slurmctld state, the
# accounting DB, keys) is kept: `WIPE=1 up.sh` clears it.
#
# Jobs that are still running keep their slurmstepd; the next up.sh's slurmd
# re-attaches to them (normal SLURM behaviour).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[[ $(id -u) == 0 ]] || die "must run as root"
take_lock

stopped=()
# The second cluster (noacct.sh) shares munge: it goes first.
stop_pidfile /run/slurm/noacct-slurmd.pid slurmd 15 && stopped+=(slurmd-noacct)
stop_pidfile /run/slurm/noacct-slurmctld.pid slurmctld 15 && stopped+=(slurmctld-noacct)
stop_sshd sessions && stopped+=(sshd)
stop_all_slurmd && stopped+=(slurmd)
stop_pidfile "$CTLD_PID" slurmctld 30 && stopped+=(slurmctld)
stop_pidfile "$DBD_PID" slurmdbd 30 && stopped+=(slurmdbd)
stop_pidfile "$MYSQL_PID" mariadbd 60 && stopped+=(mariadbd)
stop_pidfile "$MUNGE_PID" munged 10 && stopped+=(munged)

if ((${#stopped[@]})); then
  say "stopped ${stopped[*]} in $(total_time)s"
else
  say "nothing was running"
fi
