# Shared helpers for up.sh / down.sh. Sourced, not executed.
# shellcheck shell=bash

BASE=${SLURM_ML_CLUSTER_DIR:-/var/tmp/slurm-ml-cluster}
CLUSTER=slurmml

# Pid files. /run is NOT a tmpfs on this kind of machine, so pid files can be
# stale: never trust one without checking /proc (pitfalls 2-3).
MUNGE_PID=/run/munge/munged.pid
MYSQL_PID=/run/mysqld/mysqld.pid
MYSQL_SOCK=/run/mysqld/mysqld.sock
DBD_PID=/run/slurm/slurmdbd.pid
CTLD_PID=/run/slurm/slurmctld.pid
SLURMD_PID_GLOB=/run/slurm/slurmd-*.pid # slurmd-<nodename>.pid (SlurmdPidFile uses %n)
SSHD_PID=$BASE/ssh/sshd.pid

# One up.sh/down.sh at a time on this machine (the daemons are machine-wide).
# The node's slurm.conf hardware: every core, and 80 % of RAM rounded down to
# whole GiB (stable across boots, never above what slurmd sees).
node_hardware() {
  local ncpu mem_mb real_mem
  ncpu=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
  real_mem=$((mem_mb * 8 / 10 / 1024 * 1024))
  ((real_mem >= 1024)) || real_mem=$((mem_mb / 2))
  echo "CPUs=$ncpu Sockets=1 CoresPerSocket=$ncpu ThreadsPerCore=1 RealMemory=$real_mem"
}

take_lock() {
  exec 9>/run/slurm-ml-cluster.lock
  flock -w 900 9 || die "another up.sh/down.sh is still running (lock /run/slurm-ml-cluster.lock)"
}

_now() { echo "${EPOCHREALTIME/./}"; } # microseconds, no fork
_t_start=$(_now)
_step_t=$_t_start

say() { echo "$(basename "$0"): $*"; }
die() { echo "$(basename "$0"): ERROR: $*" >&2; exit 1; }

# step_done "what": prints what + time since the previous step_done/step_begin.
step_begin() { _step_t=$(_now); }
step_done() {
  local now; now=$(_now)
  printf '%s: %-34s %5.1fs\n' "$(basename "$0")" "$1" "$(( (now - _step_t) / 1000 ))e-3"
  _step_t=$now
}
total_time() {
  local now; now=$(_now)
  printf '%.1f' "$(( (now - _t_start) / 1000 ))e-3"
}

# pid_of FILE: prints the pid recorded in FILE, if it looks like a pid.
pid_of() {
  local f=$1 pid
  [[ -s $f ]] || return 1
  read -r pid <"$f" || [[ -n ${pid:-} ]] || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

# proc_alive PID COMM: the process exists, is not a zombie and its comm is COMM.
proc_alive() {
  local pid=$1 comm=$2 c st
  [[ -r /proc/$pid/comm ]] || return 1
  read -r c 2>/dev/null <"/proc/$pid/comm" || return 1
  [[ $c == "$comm" ]] || return 1
  # /proc/PID/status line 3 is "State:\tS (sleeping)"; Z = zombie, X = dead.
  while read -r st 2>/dev/null; do
    [[ $st == State:* ]] && break
  done <"/proc/$pid/status" 2>/dev/null || return 1
  [[ $st != *Z* && $st != *X* ]]
}

# running PIDFILE COMM
running() {
  local pid
  pid=$(pid_of "$1") || return 1
  proc_alive "$pid" "$2"
}

# stop_pidfile PIDFILE COMM [TIMEOUT_S]: SIGTERM the daemon named in PIDFILE
# (only if it really is COMM), wait for it to exit (or become a zombie), SIGKILL
# after TIMEOUT_S. Removes the pid file. Returns 0 if something was stopped.
stop_pidfile() {
  local f=$1 comm=$2 timeout=${3:-15} pid i
  pid=$(pid_of "$f") || { rm -f "$f"; return 1; }
  if ! proc_alive "$pid" "$comm"; then rm -f "$f"; return 1; fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 20; i++)); do
    proc_alive "$pid" "$comm" || break
    sleep 0.05
  done
  if proc_alive "$pid" "$comm"; then
    echo "$(basename "$0"): $comm (pid $pid) ignored SIGTERM for ${timeout}s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do proc_alive "$pid" "$comm" || break; sleep 0.05; done
  fi
  rm -f "$f"
  return 0
}

# children_of PID: pids whose parent is PID.
children_of() {
  local p=$1 st line f
  for st in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$st" || continue
    line=${line##*) } # strip "pid (comm) ", comm may contain spaces
    read -ra f <<<"$line"
    [[ ${f[1]:-} == "$p" ]] && { st=${st#/proc/}; echo "${st%/stat}"; }
  done
  return 0
}

# stop_sshd [sessions]: the listener, and with "sessions" also the sessions it
# forked (they outlive the listener).
stop_sshd() {
  local pid kids= k
  pid=$(pid_of "$SSHD_PID") || { rm -f "$SSHD_PID"; return 1; }
  proc_alive "$pid" sshd || { rm -f "$SSHD_PID"; return 1; }
  [[ ${1:-} == sessions ]] && kids=$(children_of "$pid")
  stop_pidfile "$SSHD_PID" sshd 5 || true
  for k in $kids; do
    proc_alive "$k" sshd && kill -TERM "$k" 2>/dev/null || true
  done
  return 0
}

# stop_all_slurmd: every slurmd with a pid file (the real node and fake nodes).
stop_all_slurmd() {
  local f any=1
  for f in $SLURMD_PID_GLOB; do
    [[ -e $f ]] || continue
    stop_pidfile "$f" slurmd 15 && any=0
  done
  return $any
}
