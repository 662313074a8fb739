#!/usr/bin/env bash
# Bring up slurm-ml's local test cluster on this machine (Debian 12, root, no
# init system): munge, MariaDB, slurmdbd, slurmctld, slurmd (+ fake nodes) and
# an OpenSSH server on 127.0.0.1 for a key-only user `hpcuser`.
#
# Idempotent: daemons that are already running are left alone unless a config
# file they read changed. See README.md for the environment variables.
#
#   SLURM_ML_CLUSTER_DIR  state dir (keys, sshd config, env.sh); default /var/tmp/slurm-ml-cluster
#   SSH_PORT              sshd port on 127.0.0.1; default 2222
#   FAKE_NODES=N          add N fake nodes fake1..fakeN in partition `multi`; default 0
#   WIPE=1                wipe slurmctld state and the accounting DB (job ids restart at 1)
#   SMOKE=0               skip the final smoke job
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SSH_PORT=${SSH_PORT:-2222}
FAKE_NODES=${FAKE_NODES:-0}
WIPE=${WIPE:-0}
SMOKE=${SMOKE:-1}
TEST_USER=hpcuser
ACCOUNT=research

[[ $(id -u) == 0 ]] || die "must run as root"
[[ $SSH_PORT =~ ^[0-9]+$ ]] || die "SSH_PORT must be a number"
[[ $FAKE_NODES =~ ^[0-9]+$ ]] && ((FAKE_NODES <= 60)) || die "FAKE_NODES must be 0..60"
cd / # daemons inherit the cwd
take_lock # fd 9: daemons are started with 9>&- so they do not inherit it

# --------------------------------------------------------------------------- packages
PKGS=(munge slurmctld slurmd slurm-client slurmdbd slurm-wlm-basic-plugins
  slurm-wlm-mysql-plugin mariadb-server mariadb-client openssh-server openssh-client
  python3-numpy python3-sklearn python3-onnx # python3-*: the sample ML project test/demo/ml
  libpam-google-authenticator # one-time codes (TOTP) for test/integration/security.test.ts
  sshfs) # a network filesystem (FUSE over the test sshd) for test/integration/sharedHome.test.ts
missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  step_begin
  # No init system: postinsts must not try to start services (pitfall 1).
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
    trap '[[ $made_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-q -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
  aptlog=$(mktemp)
  if ! apt-get "${apt_opts[@]}" update >"$aptlog" 2>&1 ||
    ! apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; then
    tail -n 40 "$aptlog" >&2
    die "apt-get failed (full log: $aptlog)"
  fi
  rm -f "$aptlog"
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
  step_done "apt install (${#missing[@]} packages)"
fi

# --------------------------------------------------------------------------- dirs, users
NODE=$(hostname -s)
getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >>/etc/hosts # pitfall 5

install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
install -d -o munge -g munge -m 0700 /etc/munge
install -d -o slurm -g slurm -m 0755 /run/slurm /var/log/slurm /var/lib/slurm /var/lib/slurm/slurmctld
install -d -o mysql -g mysql -m 0755 /run/mysqld /var/log/mysql
install -d -o root -g root -m 0755 /run/sshd /var/spool/slurmd /etc/slurm
install -d -m 0755 "$BASE"
install -d -m 0700 "$BASE/ssh"

if [[ ! -s /etc/munge/munge.key ]]; then
  mungekey --create --keyfile=/etc/munge/munge.key >/dev/null
fi
chown munge:munge /etc/munge/munge.key
chmod 0600 /etc/munge/munge.key

if ! getent passwd "$TEST_USER" >/dev/null; then
  useradd -m -s /bin/bash "$TEST_USER"
fi
# useradd leaves the password locked ("!"): with UsePAM no, sshd then refuses
# even key logins (pitfall 12). '*' = no password, but not locked.
[[ $(getent shadow "$TEST_USER" | cut -d: -f2) == '*' ]] || usermod -p '*' "$TEST_USER"

# --------------------------------------------------------------------------- config files
# write_if_changed FILE MODE OWNER < content; returns 0 if FILE changed.
write_if_changed() {
  local f=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  if [[ -e $f ]] && cmp -s "$tmp" "$f" && [[ $(stat -c '%a %U:%G' "$f") == "${mode#0} $owner" ]]; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$f"
  return 0
}

NCPU=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
# 80 % of RAM rounded down to whole GiB: stable across boots, never above what slurmd sees.
REAL_MEM=$(( MEM_MB * 8 / 10 / 1024 * 1024 ))
((REAL_MEM >= 1024)) || REAL_MEM=$((MEM_MB / 2))
NODE_HW="CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$REAL_MEM"

FAKE_LIST=()
for ((k = 1; k <= FAKE_NODES; k++)); do FAKE_LIST+=("fake$k"); done
ALL_NODES=("$NODE" "${FAKE_LIST[@]}")

changed_slurm=0 changed_dbd=0 changed_mysql=0 changed_sshd=0

{
  cat <<EOF
# Generated by slurm-ml test/cluster/up.sh; edits are overwritten.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=/run/slurm/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
# no cgroup / no systemd: track processes through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, CR_*_Memory gives each job the whole node's memory
DefMemPerCPU=256
SchedulerType=sched/backfill
# batch_sched_delay=0: schedule at submit; backfill every 5 s
SchedulerParameters=bf_interval=5,batch_sched_delay=0
ReturnToService=2
# finished jobs stay visible to squeue -t all / scontrol show job for 10 min
MinJobAge=600
# 10,000-task arrays (test/integration/faults.test.ts); a pending array counts once, its started tasks each
MaxArraySize=10001
MaxJobCount=20000
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageEnforce=associations,limits,qos
AccountingStorageTRES=cpu,mem,node
PriorityType=priority/multifactor
PriorityWeightQOS=10000
PriorityWeightAge=100
NodeName=$NODE NodeAddr=127.0.0.1 $NODE_HW State=UNKNOWN
EOF
  for ((k = 1; k <= FAKE_NODES; k++)); do
    echo "NodeName=fake$k NodeHostname=$NODE NodeAddr=127.0.0.1 Port=$((6830 + k)) $NODE_HW State=UNKNOWN"
  done
  echo "PartitionName=debug Nodes=$NODE Default=YES MaxTime=00:10:00 DefaultTime=00:05:00 State=UP"
  echo "PartitionName=long  Nodes=$NODE Default=NO  MaxTime=1-00:00:00 DefaultTime=01:00:00 State=UP"
  if ((FAKE_NODES)); then
    echo "PartitionName=multi Nodes=fake[1-$FAKE_NODES] Default=NO MaxTime=1-00:00:00 DefaultTime=00:10:00 State=UP"
  fi
} | write_if_changed /etc/slurm/slurm.conf 0644 root:root && changed_slurm=1

# The DB password is machine-wide (not per BASE): keep the one slurmdbd.conf has.
DBPASS=$(sed -n 's/^StoragePass=//p' /etc/slurm/slurmdbd.conf 2>/dev/null || true)
[[ -n $DBPASS ]] || DBPASS=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

write_if_changed /etc/slurm/slurmdbd.conf 0600 slurm:slurm <<EOF && changed_dbd=1 || true
# Generated by slurm-ml test/cluster/up.sh; edits are overwritten.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=/var/log/slurm/slurmdbd.log
PidFile=$DBD_PID
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF

write_if_changed /etc/mysql/mariadb.conf.d/90-slurm-ml.cnf 0644 root:root <<EOF && changed_mysql=1 || true
# Generated by slurm-ml test/cluster/up.sh (for slurmdbd).
[mariadbd]
bind-address = 127.0.0.1
pid-file = $MYSQL_PID
socket = $MYSQL_SOCK
innodb_buffer_pool_size = 1024M
innodb_log_file_size = 64M
innodb_lock_wait_timeout = 900
EOF

write_if_changed "$BASE/ssh/sshd_config" 0644 root:root <<EOF && changed_sshd=1 || true
# sshd for the slurm-ml test cluster only: loopback, key-only, one user.
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $BASE/ssh/ssh_host_ed25519_key
PidFile $SSHD_PID
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $TEST_USER
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 50
LogLevel INFO
EOF

# --------------------------------------------------------------------------- wipe?
STATE=/var/lib/slurm/slurmctld
wipe=0 why=
if [[ $WIPE == 1 ]]; then
  wipe=1 why="WIPE=1"
elif [[ -s $STATE/clustername ]] && [[ $(<"$STATE/clustername") != "$CLUSTER" ]]; then
  # slurmctld refuses state of another ClusterName (pitfall 19).
  wipe=1 why="state belongs to cluster '$(<"$STATE/clustername")'"
elif [[ ! -e $STATE/clustername && -d /var/lib/mysql/slurm_acct_db ]]; then
  # slurmctld state is gone but the DB is not: job ids would restart at 1 and
  # mix with old DB rows (pitfall 11).
  wipe=1 why="slurmctld state missing but accounting DB present"
fi

if ((wipe)); then
  step_begin
  stop_all_slurmd || true
  stop_pidfile "$CTLD_PID" slurmctld || true
  stop_pidfile "$DBD_PID" slurmdbd || true
  find "$STATE" -mindepth 1 -delete
  find /var/spool/slurmd -mindepth 1 -delete
  : >/var/log/slurm/jobcomp.log 2>/dev/null || true
  chown slurm:slurm /var/log/slurm/jobcomp.log 2>/dev/null || true
  drop_db=1
fi

# --------------------------------------------------------------------------- daemons
show_log() { # show_log FILE [N]
  [[ -e $1 ]] || return 0
  echo "----- tail of $1" >&2
  tail -n "${2:-25}" "$1" >&2
}

# wait_until TIMEOUT_S CMD...: poll CMD every 0.1 s.
wait_until() {
  local t=$1 i; shift
  for ((i = 0; i < t * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# munged ------------------------------------------------------------------
if ! running "$MUNGE_PID" munged; then
  step_begin
  rm -f "$MUNGE_PID" /run/munge/munge.socket.2
  runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" 9>&- ||
    { show_log /var/log/munge/munged.log; die "munged failed to start"; }
  wait_until 10 running "$MUNGE_PID" munged || { show_log /var/log/munge/munged.log; die "munged did not start"; }
  step_done "munged started"
fi

# mariadbd ----------------------------------------------------------------
if ((changed_mysql)) && running "$MYSQL_PID" mariadbd; then
  step_begin
  stop_pidfile "$MYSQL_PID" mariadbd 60 || true
  step_done "mariadbd stopped (config changed)"
fi
if ! running "$MYSQL_PID" mariadbd; then
  step_begin
  rm -f "$MYSQL_PID"
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/var/log/mysql/install-db.log 2>&1 ||
      { show_log /var/log/mysql/install-db.log; die "mariadb-install-db failed"; }
  fi
  setsid /usr/sbin/mariadbd --user=mysql --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 9>&- &
  wait_until 60 mariadb-admin --socket="$MYSQL_SOCK" ping ||
    { show_log /var/log/mysql/error.log; die "mariadbd did not become ready"; }
  wait_until 10 running "$MYSQL_PID" mariadbd || { show_log /var/log/mysql/error.log; die "no mariadbd pid file"; }
  step_done "mariadbd started"
  fresh_mysql=1
fi
if [[ ${drop_db:-0} == 1 ]]; then
  mariadb --socket="$MYSQL_SOCK" -e 'DROP DATABASE IF EXISTS slurm_acct_db'
  step_done "wiped state + accounting DB ($why)"
fi

# slurmdbd ----------------------------------------------------------------
# Idempotent: the DB and its user with the current password.
ensure_db() {
  mariadb --socket="$MYSQL_SOCK" <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}
if ((changed_dbd)) || ! running "$DBD_PID" slurmdbd; then
  step_begin
  ensure_db
  if running "$DBD_PID" slurmdbd; then
    stop_pidfile "$DBD_PID" slurmdbd || true
  fi
  rm -f "$DBD_PID"
  /usr/sbin/slurmdbd 9>&- || { show_log /var/log/slurm/slurmdbd.log; die "slurmdbd failed to start"; }
  # Ready = answers sacctmgr (needs slurm.conf with accounting_storage/slurmdbd).
  wait_until 60 sacctmgr -n show cluster format=cluster ||
    { show_log /var/log/slurm/slurmdbd.log; die "slurmdbd did not become ready"; }
  step_done "slurmdbd started"
elif [[ ${fresh_mysql:-0} == 1 ]]; then
  ensure_db # slurmdbd itself reconnects to a restarted mariadbd
fi

# accounting: cluster, QOS, account, users ----------------------------------
acct_state() {
  # One sacctmgr process for all queries (it echoes stdin commands as "sacctmgr: ...").
  printf '%s\n' \
    "show cluster where cluster=$CLUSTER format=cluster" \
    "show qos where name=high,low format=name,priority,maxwall,maxjobspu" \
    "show assoc where cluster=$CLUSTER account=$ACCOUNT format=account,user,qos" \
    "show user where name=$TEST_USER,root format=user,defaultaccount" |
    sacctmgr -n -P 2>/dev/null | grep -v '^sacctmgr:' | sort
}
acct_expected() {
  printf '%s\n' \
    "$CLUSTER" \
    "high|100|00:10:00|" \
    "low|0||4" \
    "$ACCOUNT||high,low,normal" \
    "$ACCOUNT|$TEST_USER|high,low,normal" \
    "$ACCOUNT|root|high,low,normal" \
    "$TEST_USER|$ACCOUNT" \
    "root|$ACCOUNT" | sort
}
if [[ $(acct_state) != "$(acct_expected)" ]]; then
  step_begin
  # One sacctmgr session; "add" of something that exists just says "Nothing new added".
  printf '%s\n' \
    "add cluster $CLUSTER" \
    "add qos high" \
    "add qos low" \
    "modify qos where name=high set Priority=100 MaxWall=00:10:00" \
    "modify qos where name=low set MaxJobsPU=4" \
    "add account $ACCOUNT Cluster=$CLUSTER Description=slurm-ml-tests Organization=slurm-ml" \
    "modify account where name=$ACCOUNT cluster=$CLUSTER set QOS=normal,high,low DefaultQOS=normal" \
    "add user $TEST_USER,root Account=$ACCOUNT Cluster=$CLUSTER" \
    "modify user where name=$TEST_USER,root account=$ACCOUNT cluster=$CLUSTER set QOS=normal,high,low DefaultQOS=normal" \
    "modify user where name=$TEST_USER,root set DefaultAccount=$ACCOUNT" |
    sacctmgr -i >"$BASE/sacctmgr-bootstrap.log" 2>&1 || true
  if [[ $(acct_state) != "$(acct_expected)" ]]; then
    echo "expected:" >&2; acct_expected >&2
    echo "got:" >&2; acct_state >&2
    cat "$BASE/sacctmgr-bootstrap.log" >&2
    show_log /var/log/slurm/slurmdbd.log
    die "accounting bootstrap failed"
  fi
  step_done "accounting: cluster/QOS/account/users"
fi

# slurmctld + slurmd ------------------------------------------------------
slurmd_pidfile() { echo "/run/slurm/slurmd-$1.pid"; }

# slurmds of nodes that are no longer configured (e.g. FAKE_NODES went down).
for f in $SLURMD_PID_GLOB; do
  [[ -e $f ]] || continue
  n=${f##*/slurmd-}; n=${n%.pid}
  keep=0
  for m in "${ALL_NODES[@]}"; do [[ $n == "$m" ]] && keep=1; done
  if ((!keep)); then
    stop_pidfile "$f" slurmd || true
    rm -rf "/var/spool/slurmd/$n"
  fi
done

if ((changed_slurm)); then
  step_begin
  any=0
  stop_all_slurmd && any=1
  stop_pidfile "$CTLD_PID" slurmctld && any=1
  if ((any)); then step_done "stopped slurmctld/slurmd (slurm.conf changed)"; fi
fi

if ! running "$CTLD_PID" slurmctld; then
  step_begin
  rm -f "$CTLD_PID"
  /usr/sbin/slurmctld 9>&- || { show_log /var/log/slurm/slurmctld.log; die "slurmctld failed to start"; }
  ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
  wait_until 30 ctld_up || { show_log /var/log/slurm/slurmctld.log 40; die "slurmctld did not come up"; }
  step_done "slurmctld started"
fi

started_nodes=()
for n in "${ALL_NODES[@]}"; do
  pf=$(slurmd_pidfile "$n")
  running "$pf" slurmd && continue
  rm -f "$pf"
  install -d -m 0755 "/var/spool/slurmd/$n"
  if ((${#started_nodes[@]} == 0)); then step_begin; fi
  /usr/sbin/slurmd -N "$n" 9>&- || { show_log "/var/log/slurm/slurmd-$n.log"; die "slurmd -N $n failed to start"; }
  started_nodes+=("$n")
done

# All nodes up and usable. Resume any that an earlier run left drained/down.
nodes_ok() {
  local out bad=0 n st
  out=$(sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
  for n in "${ALL_NODES[@]}"; do
    st=$(awk -v n="$n" '$1 == n {print $2; exit}' <<<"$out")
    case $st in
      idle | mix | alloc | comp) ;;
      *) bad=1 ;;
    esac
  done
  return $bad
}
if ! nodes_ok; then
  if ((${#started_nodes[@]} == 0)); then step_begin; fi
  if ! wait_until 15 nodes_ok; then
    for n in "${ALL_NODES[@]}"; do
      scontrol update NodeName="$n" State=RESUME >/dev/null 2>&1 || true
    done
    if ! wait_until 20 nodes_ok; then
      sinfo -N -l >&2 || true
      for n in "${ALL_NODES[@]}"; do show_log "/var/log/slurm/slurmd-$n.log" 10; done
      show_log /var/log/slurm/slurmctld.log 20
      die "nodes did not become idle"
    fi
  fi
  step_done "slurmd up: ${ALL_NODES[*]}"
elif ((${#started_nodes[@]})); then
  step_done "slurmd up: ${started_nodes[*]}"
fi

# --------------------------------------------------------------------------- ssh
KEY=$BASE/ssh/id_ed25519
HOSTKEY=$BASE/ssh/ssh_host_ed25519_key
if [[ ! -s $HOSTKEY ]]; then
  rm -f "$HOSTKEY" "$HOSTKEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C "slurm-ml-test-host" -f "$HOSTKEY"
  changed_sshd=1
fi
chmod 0600 "$HOSTKEY"
if [[ ! -s $KEY ]]; then
  rm -f "$KEY" "$KEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C "slurm-ml-test-client" -f "$KEY"
fi
chmod 0600 "$KEY"

HOME_DIR=$(getent passwd "$TEST_USER" | cut -d: -f6)
install -d -o "$TEST_USER" -g "$TEST_USER" -m 0700 "$HOME_DIR/.ssh"
# Add (never replace): another state dir (SLURM_ML_CLUSTER_DIR) may have its own key.
AUTH=$HOME_DIR/.ssh/authorized_keys
read -r pub <"$KEY.pub"
if ! grep -qxF "$pub" "$AUTH" 2>/dev/null; then
  echo "$pub" >>"$AUTH"
fi
chown "$TEST_USER:$TEST_USER" "$AUTH"
chmod 0600 "$AUTH"

if [[ $SSH_PORT == 22 ]]; then hk_host=127.0.0.1; else hk_host="[127.0.0.1]:$SSH_PORT"; fi
read -r hk_type hk_blob _ <"$HOSTKEY.pub"
printf '%s %s %s\n' "$hk_host" "$hk_type" "$hk_blob" >"$BASE/known_hosts.new"
mv -f "$BASE/known_hosts.new" "$BASE/known_hosts"
chmod 0644 "$BASE/known_hosts"
HOSTKEY_FP=$(ssh-keygen -lf "$HOSTKEY.pub" | awk '{print $2}')

# sshd reads its host key at start: restart it if the key is not the one it loaded.
[[ $(cat "$BASE/ssh/.hostkey-loaded" 2>/dev/null) == "$HOSTKEY_FP" ]] || changed_sshd=1
if ((changed_sshd)) && running "$SSHD_PID" sshd; then
  stop_sshd || true
fi
if ! running "$SSHD_PID" sshd; then
  step_begin
  rm -f "$SSHD_PID"
  /usr/sbin/sshd -t -f "$BASE/ssh/sshd_config" || die "sshd config test failed"
  /usr/sbin/sshd -f "$BASE/ssh/sshd_config" -E "$BASE/ssh/sshd.log" 9>&- ||
    { show_log "$BASE/ssh/sshd.log"; die "sshd failed to start"; }
  # The foreground sshd exits before the daemon writes its PidFile (pitfall 13).
  wait_until 10 running "$SSHD_PID" sshd && wait_until 10 port_open "$SSH_PORT" ||
    { show_log "$BASE/ssh/sshd.log"; die "sshd did not start on 127.0.0.1:$SSH_PORT"; }
  echo "$HOSTKEY_FP" >"$BASE/ssh/.hostkey-loaded"
  step_done "sshd started on 127.0.0.1:$SSH_PORT"
fi

# --------------------------------------------------------------------------- env.sh
PARTITIONS="debug long"
if ((FAKE_NODES)); then PARTITIONS+=" multi"; fi
write_if_changed "$BASE/env.sh" 0644 root:root <<EOF || true
# Generated by slurm-ml test/cluster/up.sh. Source it: . $BASE/env.sh
export SLURM_ML_CLUSTER_DIR='$BASE'
export SLURM_ML_TEST_HOST='127.0.0.1'
export SLURM_ML_TEST_PORT='$SSH_PORT'
export SLURM_ML_TEST_USER='$TEST_USER'
export SLURM_ML_TEST_IDENTITY='$KEY'
export SLURM_ML_TEST_KNOWN_HOSTS='$BASE/known_hosts'
export SLURM_ML_TEST_HOSTKEY_FP='$HOSTKEY_FP'
export SLURM_ML_TEST_CLUSTER_NAME='$CLUSTER'
export SLURM_ML_TEST_ACCOUNT='$ACCOUNT'
export SLURM_ML_TEST_PARTITIONS='$PARTITIONS'
export SLURM_ML_TEST_DEFAULT_PARTITION='debug'
export SLURM_ML_TEST_QOS='normal high low'
export SLURM_ML_TEST_FAKE_NODES='$FAKE_NODES'
export SLURM_ML_TEST_NODE='$NODE'
EOF

# --------------------------------------------------------------------------- smoke test
if [[ $SMOKE == 1 ]]; then
  step_begin
  SSH=(ssh -p "$SSH_PORT" -i "$KEY" -o UserKnownHostsFile="$BASE/known_hosts" -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 -o LogLevel=ERROR "$TEST_USER@127.0.0.1")
  smoke_fail() {
    echo "$(basename "$0"): SMOKE TEST FAILED: $*" >&2
    squeue -a -t all >&2 || true
    [[ -n ${jobid:-} ]] && { scontrol show job "$jobid" >&2 || true; sacct -j "$jobid" >&2 || true; }
    show_log /var/log/slurm/slurmctld.log 20
    show_log "/var/log/slurm/slurmd-$NODE.log" 15
    show_log /var/log/slurm/slurmdbd.log 10
    show_log "$BASE/ssh/sshd.log" 10
    exit 1
  }
  out=$("${SSH[@]}" sbatch --parsable --job-name=smoke --output=/dev/null --wrap hostname 2>&1) ||
    smoke_fail "ssh/sbatch failed: $out"
  jobid=${out%%;*}
  [[ $jobid =~ ^[0-9]+$ ]] || smoke_fail "unexpected sbatch output: $out"
  # sacct is eventually consistent (pitfall 10): retry until End is set.
  # 60 s: other users' jobs may hold the CPUs for a while.
  st=
  for ((i = 0; i < 600; i++)); do
    row=$(sacct -n -X -P -j "$jobid" -o State,End 2>/dev/null | head -n1) || true
    st=${row%%|*}
    end=${row#*|}
    if [[ -n $row && $end != Unknown && -n $end ]]; then
      [[ $st == COMPLETED ]] && break
      case $st in PENDING | RUNNING | REQUEUED | CONFIGURING | COMPLETING) ;; *) smoke_fail "job $jobid ended $st" ;; esac
    fi
    sleep 0.1
  done
  [[ $st == COMPLETED && $end != Unknown ]] || smoke_fail "job $jobid not COMPLETED in sacct after 60 s (sacct: '${row:-}', squeue: $(squeue -h -t all -j "$jobid" -o '%T %r' 2>&1))"
  step_done "smoke job $jobid COMPLETED (ssh+sacct)"
fi

say "ready in $(total_time)s: ssh -p $SSH_PORT $TEST_USER@127.0.0.1; env: $BASE/env.sh"
