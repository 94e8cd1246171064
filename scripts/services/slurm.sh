#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the tests of
# genesis-backend-slurm and for trying `genesis run --backend slurm`.
#
#   scripts/services/slurm.sh start    # idempotent: starts only what is not running
#   scripts/services/slurm.sh status   # exit 0 when every daemon answers
#   scripts/services/slurm.sh stop     # stops what this script started, by pid file
#
# Needs root and Debian's packages:
#   apt-get install --no-install-recommends slurm-wlm slurmctld slurmd slurm-client \
#       munge slurmdbd mariadb-server
#
# State (configuration, logs, pid files, spool) lives in
# ${GENESIS_SERVICES_DIR:-/tmp/genesis-services}/slurm. The daemons read the
# configuration there through SLURM_CONF; client commands (sbatch, sacct,
# submitit) find it through /etc/slurm/slurm.conf, which this script links to
# it when that file is absent or was written by this script.
#
# Why each part is there:
# - accounting through slurmdbd + MariaDB: submitit polls `sacct`; without
#   accounting a cancelled or killed job is never seen to end.
# - DefMemPerCPU: without it every job takes the whole node's memory.
# - CPUs and RealMemory are read from the machine at each start: a node that
#   claims more than it has is drained.
# - jobacct_gather/linux with OverMemoryKill: a job past its --mem is killed
#   and ends OUT_OF_MEMORY (there are no cgroups to do it without systemd).
# - two partitions, `debug` (default) and `urgent` (higher PriorityTier), with
#   PreemptMode=CANCEL: a job in `urgent` preempts jobs in `debug`, so the
#   PREEMPTED path is real and testable.
set -euo pipefail

STATE_DIR="${GENESIS_SERVICES_DIR:-/tmp/genesis-services}/slurm"
ETC="$STATE_DIR/etc"
RUN="$STATE_DIR/run"
LOG="$STATE_DIR/log"
SPOOL="$STATE_DIR/spool"
CONF="$ETC/slurm.conf"
DBD_CONF="$ETC/slurmdbd.conf"
MARKER="# written by genesis scripts/services/slurm.sh"
CLUSTER=genesis
NODE=localhost
# One accounting database per state folder, so two folders never mix their jobs.
ACCT_DB="genesis_slurm_$(printf %s "$STATE_DIR" | cksum | cut -d' ' -f1)"
export SLURM_CONF="$CONF"

say() { echo "slurm.sh: $*" >&2; }
die() { say "$*"; exit 1; }

pid_alive() {  # pid_alive FILE: the pid in FILE names a running process
  [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what did not come up within ${limit}s; see the logs in $LOG"
    fi
    sleep 0.2
  done
}

check_installed() {
  local missing=()
  for exe in munged mysqld slurmdbd slurmctld slurmd sbatch sacct sacctmgr; do
    command -v "$exe" >/dev/null 2>&1 || [[ -x "/usr/sbin/$exe" ]] || missing+=("$exe")
  done
  if ((${#missing[@]})); then
    say "missing programs: ${missing[*]}. Install them (as root) with:"
    say "  apt-get install --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
    exit 3
  fi
  [[ $(id -u) == 0 ]] || die "must run as root (the daemons run as root or their own users)"
}

# -- configuration -------------------------------------------------------------

detect_node() {
  # Sets NODE_LINE and DEF_MEM from the CPUs and memory slurmd itself detects;
  # never claims more CPUs than nproc.
  local detected cpus real_mem
  detected=$(slurmd -C | head -1)
  cpus=$(nproc)
  real_mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
  if [[ "$detected" =~ CPUs=([0-9]+) ]] && [[ ${BASH_REMATCH[1]} == "$cpus" ]]; then
    # keep slurmd's topology (sockets, cores, threads) when it agrees with nproc
    local topo
    topo=$(grep -o 'CPUs=[^ ]* Boards=[^ ]* SocketsPerBoard=[^ ]* CoresPerSocket=[^ ]* ThreadsPerCore=[^ ]*' <<<"$detected" || true)
    NODE_LINE="NodeName=$NODE NodeAddr=127.0.0.1 ${topo:-CPUs=$cpus} RealMemory=$real_mem State=UNKNOWN"
  else
    NODE_LINE="NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN"
  fi
  DEF_MEM=$((real_mem / cpus < 1024 ? real_mem / cpus : 1024))
}

write_configs() {
  mkdir -p "$ETC" "$RUN" "$LOG" "$SPOOL/slurmctld" "$SPOOL/slurmd"
  chmod 755 "$STATE_DIR" "$ETC"
  detect_node
  cat >"$CONF" <<EOF
$MARKER
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SPOOL/slurmctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
ReturnToService=2
KillWait=5
MinJobAge=300
InactiveLimit=0
SlurmdTimeout=60
$NODE_LINE
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=$NODE MaxTime=INFINITE State=UP PriorityTier=2
EOF
  local password_file="$ETC/dbpass"
  if [[ ! -s "$password_file" ]]; then
    (umask 077; head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$password_file")
  fi
  (umask 077; cat >"$DBD_CONF" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=genesis_slurm
StoragePass=$(cat "$password_file")
StorageLoc=$ACCT_DB
EOF
  )
  chmod 600 "$DBD_CONF"
  link_client_config
}

link_client_config() {
  # Client commands read /etc/slurm/slurm.conf; point it here unless it is someone else's.
  local target=/etc/slurm/slurm.conf
  mkdir -p /etc/slurm
  if [[ -L "$target" ]] || [[ ! -e "$target" ]] || grep -qF "$MARKER" "$target" 2>/dev/null; then
    ln -sfn "$CONF" "$target"
  else
    say "note: $target belongs to another cluster; export SLURM_CONF=$CONF to use this one"
  fi
}

# -- daemons ---------------------------------------------------------------------

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
mariadb_ok() { mysqladmin --connect-timeout=2 ping >/dev/null 2>&1; }
dbd_ok() { pid_alive "$RUN/slurmdbd.pid" && sacctmgr -n -P list cluster >/dev/null 2>&1; }
ctld_ok() { pid_alive "$RUN/slurmctld.pid" && scontrol ping 2>/dev/null | grep -q "is UP"; }
node_ok() {
  pid_alive "$RUN/slurmd.pid" || return 1
  local state
  state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1)
  [[ "$state" =~ ^(idle|mix|alloc|comp) ]]
}

start_munge() {
  munge_ok && return 0
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  echo /run/munge/munged.pid >"$RUN/munged.ours"
  wait_for 10 munged munge_ok
}

start_mariadb() {
  if ! mariadb_ok; then
    /etc/init.d/mariadb start >"$LOG/mariadb-init.log" 2>&1 || die "MariaDB did not start; see $LOG/mariadb-init.log"
    touch "$RUN/mariadb.ours"
    wait_for 30 MariaDB mariadb_ok
  fi
  local password
  password=$(cat "$ETC/dbpass")
  if [[ ! -e "$SPOOL/slurmctld/job_state" ]]; then
    # A new cluster starts numbering jobs at 1 again: old accounting records
    # with the same ids would confuse sacct, so its database starts afresh too.
    mysql -u root -e "DROP DATABASE IF EXISTS $ACCT_DB"
  fi
  mysql -u root <<EOF
CREATE USER IF NOT EXISTS 'genesis_slurm'@'localhost' IDENTIFIED BY '$password';
ALTER USER 'genesis_slurm'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON $ACCT_DB.* TO 'genesis_slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
  dbd_ok && return 0
  pid_alive "$RUN/slurmdbd.pid" || slurmdbd
  wait_for 30 slurmdbd dbd_ok
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
}

start_slurmctld() {
  ctld_ok && return 0
  pid_alive "$RUN/slurmctld.pid" || slurmctld
  wait_for 30 slurmctld ctld_ok
}

start_slurmd() {
  if ! pid_alive "$RUN/slurmd.pid"; then
    slurmd -N "$NODE"
  fi
  local deadline=$((SECONDS + 30)) state
  while ((SECONDS < deadline)); do
    node_ok && return 0
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1 || true)
    if [[ "$state" =~ ^(drain|drng|down) ]]; then
      scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
    fi
    sleep 0.3
  done
  die "node $NODE did not become idle within 30s (state: ${state:-unknown}); see $LOG/slurmd.log and $LOG/slurmctld.log"
}

all_ok() { munge_ok && mariadb_ok && dbd_ok && ctld_ok && node_ok; }

cmd_start() {
  check_installed
  if all_ok; then
    link_client_config
    say "already running (SLURM_CONF=$CONF)"
    return 0
  fi
  # Daemons already running keep the configuration they read; rewrite it only when none is.
  if ! pid_alive "$RUN/slurmctld.pid" && ! pid_alive "$RUN/slurmd.pid" && ! pid_alive "$RUN/slurmdbd.pid"; then
    write_configs
  fi
  start_munge
  start_mariadb
  start_slurmdbd
  start_slurmctld
  start_slurmd
  say "running: cluster $CLUSTER, node $NODE ($(sinfo -h -n $NODE -o '%c CPUs, %m MB')), SLURM_CONF=$CONF"
}

stop_pidfile() {  # stop_pidfile NAME FILE
  local name=$1 file=$2
  pid_alive "$file" || { rm -f "$file"; return 0; }
  local pid
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
    sleep 0.1
  done
  say "$name (pid $pid) did not stop on SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

cmd_stop() {
  [[ -d "$RUN" ]] || { say "nothing to stop ($STATE_DIR does not exist)"; return 0; }
  stop_pidfile slurmd "$RUN/slurmd.pid"
  stop_pidfile slurmctld "$RUN/slurmctld.pid"
  stop_pidfile slurmdbd "$RUN/slurmdbd.pid"
  if [[ -e "$RUN/mariadb.ours" ]]; then
    /etc/init.d/mariadb stop >"$LOG/mariadb-init.log" 2>&1 || say "MariaDB did not stop cleanly; see $LOG/mariadb-init.log"
    rm -f "$RUN/mariadb.ours"
  fi
  if [[ -e "$RUN/munged.ours" ]]; then
    stop_pidfile munged "$(cat "$RUN/munged.ours")"
    rm -f "$RUN/munged.ours"
  fi
  say "stopped"
}

cmd_status() {
  local rc=0
  report() { if "$2"; then echo "$1: running"; else echo "$1: not running"; rc=1; fi; }
  report munged munge_ok
  report mariadb mariadb_ok
  report slurmdbd dbd_ok
  report slurmctld ctld_ok
  report "slurmd ($NODE)" node_ok
  echo "SLURM_CONF=$CONF"
  return $rc
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
