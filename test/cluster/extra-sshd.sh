#!/usr/bin/env bash
# Extra sshd servers on loopback for the "SSH like the user's own ssh" tests,
# beside the test cluster's own sshd (test/cluster/up.sh, 127.0.0.1:2222):
#
#   127.0.0.1:2223  a jump host: key-only, user hpcuser (the cluster's key),
#                   AllowTcpForwarding yes, its own host key.
#   127.0.0.1:2224  a PAM login: keyboard-interactive and password only, for
#                   the user kbduser with a password this script sets.
#
# It also makes a passphrase-protected key for hpcuser (authorized on the
# cluster's sshd), and writes $SLURM_ML_CLUSTER_DIR/extra-env.sh (0600: it
# holds the password and the passphrase).
#
#   test/cluster/extra-sshd.sh         start (idempotent; restarts a server whose config changed)
#   test/cluster/extra-sshd.sh stop    stop both, by their pid files
#
# Run as root after up.sh (it needs hpcuser and the cluster's key). No init
# system needed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

JUMP_PORT=${JUMP_PORT:-2223}
KBD_PORT=${KBD_PORT:-2224}
JUMP_USER=hpcuser
KBD_USER=kbduser
EXTRA=$BASE/extra
JUMP_PID=$EXTRA/sshd-jump.pid
KBD_PID=$EXTRA/sshd-kbd.pid
ENV_FILE=$BASE/extra-env.sh

[[ $(id -u) == 0 ]] || die "must run as root"
cd /

stop_one() { # stop_one PIDFILE: the listener and the sessions it forked
  local pid kids k
  pid=$(pid_of "$1") || { rm -f "$1"; return 0; }
  proc_alive "$pid" sshd || { rm -f "$1"; return 0; }
  kids=$(children_of "$pid")
  stop_pidfile "$1" sshd 5 || true
  for k in $kids; do
    proc_alive "$k" sshd && kill -TERM "$k" 2>/dev/null || true
  done
}

if [[ ${1:-start} == stop ]]; then
  stop_one "$JUMP_PID"
  stop_one "$KBD_PID"
  say "stopped the extra sshd servers"
  exit 0
fi
[[ ${1:-start} == start ]] || die "usage: $0 [start|stop]"

[[ -s $BASE/ssh/id_ed25519 ]] && getent passwd "$JUMP_USER" >/dev/null ||
  die "run test/cluster/up.sh first (no hpcuser or cluster key in $BASE)"
command -v /usr/sbin/sshd >/dev/null || die "openssh-server is not installed (up.sh installs it)"
install -d -m 0700 "$EXTRA"
install -d -o root -g root -m 0755 /run/sshd

# ------------------------------------------------------------------ keys, user
for k in jump kbd; do
  if [[ ! -s $EXTRA/ssh_host_${k}_ed25519_key ]]; then
    rm -f "$EXTRA/ssh_host_${k}_ed25519_key" "$EXTRA/ssh_host_${k}_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "slurm-ml-test-$k-host" -f "$EXTRA/ssh_host_${k}_ed25519_key"
  fi
  chmod 0600 "$EXTRA/ssh_host_${k}_ed25519_key"
done

# Keep the password and passphrase across runs (tests may cache nothing, but
# a person reading the env file should not see them change under them).
old() { [[ -r $ENV_FILE ]] && sed -n "s/^export $1='\\(.*\\)'\$/\\1/p" "$ENV_FILE" || true; }
KBD_PASSWORD=$(old SLURM_ML_TEST_KBD_PASSWORD)
[[ -n $KBD_PASSWORD ]] || KBD_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
PASSPHRASE=$(old SLURM_ML_TEST_PASSPHRASE)
[[ -n $PASSPHRASE ]] || PASSPHRASE=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

if ! getent passwd "$KBD_USER" >/dev/null; then
  useradd -m -s /bin/bash "$KBD_USER"
fi
echo "$KBD_USER:$KBD_PASSWORD" | chpasswd

# A passphrase-protected key for hpcuser, authorized on the cluster's sshd.
PKEY=$EXTRA/id_ed25519_passphrase
if [[ ! -s $PKEY ]] || ! ssh-keygen -y -P "$PASSPHRASE" -f "$PKEY" >/dev/null 2>&1; then
  rm -f "$PKEY" "$PKEY.pub"
  ssh-keygen -q -t ed25519 -N "$PASSPHRASE" -C "slurm-ml-test-passphrase" -f "$PKEY"
fi
chmod 0600 "$PKEY"
HOME_DIR=$(getent passwd "$JUMP_USER" | cut -d: -f6)
AUTH=$HOME_DIR/.ssh/authorized_keys
read -r pub <"$PKEY.pub"
grep -qxF "$pub" "$AUTH" 2>/dev/null || echo "$pub" >>"$AUTH"
chown "$JUMP_USER:$JUMP_USER" "$AUTH"
chmod 0600 "$AUTH"

# ------------------------------------------------------------------ configs
write_if_changed() { # write_if_changed FILE < content; returns 0 if FILE changed
  local f=$1 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  chmod 0644 "$tmp"
  if [[ -e $f ]] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$f"
}

changed_jump=0 changed_kbd=0
write_if_changed "$EXTRA/sshd_jump_config" <<EOF && changed_jump=1 || true
# slurm-ml tests: a jump host (ProxyJump) on loopback, key-only.
Port $JUMP_PORT
ListenAddress 127.0.0.1
HostKey $EXTRA/ssh_host_jump_ed25519_key
PidFile $JUMP_PID
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $JUMP_USER
AuthorizedKeysFile .ssh/authorized_keys
AllowTcpForwarding yes
PermitOpen any
PrintMotd no
MaxStartups 100:30:200
# debug1 logs each forwarded connection (server_request_direct_tcpip), which the tests count.
LogLevel DEBUG1
EOF

write_if_changed "$EXTRA/sshd_kbd_config" <<EOF && changed_kbd=1 || true
# slurm-ml tests: password and keyboard-interactive logins through PAM, on loopback.
Port $KBD_PORT
ListenAddress 127.0.0.1
HostKey $EXTRA/ssh_host_kbd_ed25519_key
PidFile $KBD_PID
PubkeyAuthentication no
PasswordAuthentication yes
KbdInteractiveAuthentication yes
UsePAM yes
PermitRootLogin no
AllowUsers $KBD_USER
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
MaxStartups 100:30:200
LogLevel VERBOSE
EOF

# The cluster's sshd is the target behind the jump host: it must not forbid
# forwarded connections (it does not restrict them; AllowTcpForwarding only
# matters on the jump host). Checked, not changed.
main_fwd=$(/usr/sbin/sshd -T -f "$BASE/ssh/sshd_config" -C user=$JUMP_USER,host=localhost,addr=127.0.0.1 2>/dev/null | awk '$1 == "allowtcpforwarding" {print $2}')
[[ -z $main_fwd || $main_fwd != no ]] || say "note: the cluster's sshd has AllowTcpForwarding no (not needed for these tests)"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_until() { # wait_until TIMEOUT_S CMD...
  local t=$1 i; shift
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@" >/dev/null 2>&1
}

start_one() { # start_one NAME CONFIG PIDFILE PORT CHANGED
  local name=$1 conf=$2 pidf=$3 port=$4 changed=$5 log=$EXTRA/sshd-$1.log
  if ((changed)) && running "$pidf" sshd; then stop_one "$pidf"; fi
  running "$pidf" sshd && return 0
  step_begin
  rm -f "$pidf"
  /usr/sbin/sshd -t -f "$conf" || die "sshd config test failed for $conf"
  /usr/sbin/sshd -f "$conf" -E "$log"
  # The foreground sshd exits before the daemon writes its PidFile.
  wait_until 10 running "$pidf" sshd && wait_until 10 port_open "$port" ||
    { tail -n 20 "$log" >&2; die "sshd ($name) did not start on 127.0.0.1:$port"; }
  step_done "sshd ($name) on 127.0.0.1:$port"
}
start_one jump "$EXTRA/sshd_jump_config" "$JUMP_PID" "$JUMP_PORT" "$changed_jump"
start_one kbd "$EXTRA/sshd_kbd_config" "$KBD_PID" "$KBD_PORT" "$changed_kbd"

# known_hosts for both extra servers (the cluster's own is $BASE/known_hosts).
{
  read -r t b _ <"$EXTRA/ssh_host_jump_ed25519_key.pub"; echo "[127.0.0.1]:$JUMP_PORT $t $b"
  read -r t b _ <"$EXTRA/ssh_host_kbd_ed25519_key.pub"; echo "[127.0.0.1]:$KBD_PORT $t $b"
} >"$EXTRA/known_hosts"
chmod 0644 "$EXTRA/known_hosts"
fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }

umask 077
cat >"$ENV_FILE.new" <<EOF
# Generated by slurm-ml test/cluster/extra-sshd.sh (0600: holds a password). Source it: . $ENV_FILE
export SLURM_ML_TEST_JUMP_PORT='$JUMP_PORT'
export SLURM_ML_TEST_JUMP_USER='$JUMP_USER'
export SLURM_ML_TEST_JUMP_HOSTKEY_FP='$(fp "$EXTRA/ssh_host_jump_ed25519_key.pub")'
export SLURM_ML_TEST_JUMP_LOG='$EXTRA/sshd-jump.log'
export SLURM_ML_TEST_KBD_PORT='$KBD_PORT'
export SLURM_ML_TEST_KBD_USER='$KBD_USER'
export SLURM_ML_TEST_KBD_PASSWORD='$KBD_PASSWORD'
export SLURM_ML_TEST_KBD_HOSTKEY_FP='$(fp "$EXTRA/ssh_host_kbd_ed25519_key.pub")'
export SLURM_ML_TEST_KBD_LOG='$EXTRA/sshd-kbd.log'
export SLURM_ML_TEST_EXTRA_KNOWN_HOSTS='$EXTRA/known_hosts'
export SLURM_ML_TEST_PASSPHRASE_IDENTITY='$PKEY'
export SLURM_ML_TEST_PASSPHRASE='$PASSPHRASE'
EOF
chmod 0600 "$ENV_FILE.new"
mv -f "$ENV_FILE.new" "$ENV_FILE"
say "ready in $(total_time)s: jump host 127.0.0.1:$JUMP_PORT, PAM login 127.0.0.1:$KBD_PORT; env: $ENV_FILE"
