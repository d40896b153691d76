#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying `snakemake --profile profiles/slurm`
# (and for the test tests/test_cluster_slurm.py). Run as root on Debian/Ubuntu:
#
#   bash scripts/local_cluster.sh start    # munged + slurmctld + slurmd; idempotent
#   bash scripts/local_cluster.sh status   # exit 0 when the node takes jobs, 3 when not running
#   bash scripts/local_cluster.sh stop     # cancels every job, stops what `start` started
#
# What `start` sets up (docs/cluster.md, "A one-node cluster"):
#   - munge: reuses a munged that already answers, else starts one (as the munge user) with
#     the key of the Debian package (/etc/munge/munge.key; created with mungekey if absent);
#   - /etc/slurm/slurm.conf for this host: its name, CPUs and memory (`slurmd -C`),
#     select/cons_tres with cores and memory as consumables, proctrack/linuxproc and
#     task/none (no cgroups, no systemd: works in containers), SlurmUser/SlurmdUser root;
#   - no accounting database: the SLURM executor plugin polls `squeue` (profiles/slurm_local
#     sets slurm-status-command: squeue; MinJobAge=3600 keeps finished jobs visible to it),
#     and every finished job gets one line in the job completion log, $STATE/jobcomp.log;
#   - state, logs and pid files under $SCAA_SLURM_STATE (default /var/spool/slurm-local).
# It refuses to touch a slurm.conf it did not write (a real cluster's), and says what is
# missing when it cannot run (not root, Debian packages absent).
set -euo pipefail

STATE="${SCAA_SLURM_STATE:-/var/spool/slurm-local}"
CONF="${SCAA_SLURM_CONF:-/etc/slurm/slurm.conf}"
MARK="# written by SCAA scripts/local_cluster.sh"
PARTITION=local
MUNGE_SOCKET_DIR=/run/munge

say() { echo "[local_cluster] $*"; }
die() { echo "[local_cluster] error: $*" >&2; exit 1; }

preflight() {
  [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root here): sudo bash $0 $*"
  local missing="" cmd pkg
  for cmd in munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client squeue:slurm-client \
             scontrol:slurm-client; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || { pkg="${cmd#*:}"; case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg";; esac; }
  done
  if [ -n "$missing" ]; then
    die "missing Debian packages:$missing (install: apt-get install$missing; scripts/setup.sh does)"
  fi
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then say "munge: a munged already answers; using it"; return; fi
  local key=/etc/munge/munge.key
  if [ ! -s "$key" ]; then
    say "munge: creating $key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile="$key"
    else dd if=/dev/urandom bs=1 count=1024 of="$key" 2>/dev/null; fi
    chown munge:munge "$key" 2>/dev/null || true
    chmod 0400 "$key"
  fi
  local user=root
  if id munge >/dev/null 2>&1; then user=munge; fi
  mkdir -p "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
  chown "$user" "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge /etc/munge "$key"
  chmod 0755 "$MUNGE_SOCKET_DIR"
  if [ "$user" = root ]; then munged --force; else runuser -u munge -- munged; fi
  touch "$STATE/munged.ours"   # `stop` ends only a munged that `start` started
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || die "munged does not answer (see /var/log/munge/munged.log)"
  say "munge: started munged as $user"
}

write_conf() {
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script (a real cluster's?); not touching it"
  fi
  # this host as slurmd sees it: NodeName=... CPUs=... Boards=... RealMemory=...
  local node host
  host="$(hostname -s)"
  node="$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")"
  case "$node" in NodeName=*CPUs=*RealMemory=*) ;; *) die "slurmd -C did not describe this host: $node";; esac
  mkdir -p "$(dirname "$CONF")" "$STATE/ctld" "$STATE/d"
  cat >"$CONF" <<EOF
$MARK (one-node cluster; \`$0 stop\` removes it)
ClusterName=scaa-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups, no systemd: plain process tracking, no CPU binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no slurmdbd: finished jobs stay in squeue for an hour (what the executor plugin polls),
# and each one gets a line in the job completion log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
MinJobAge=3600
ReturnToService=2
KillWait=10                     # a cancelled job's processes get SIGKILL 10 s after SIGTERM
SlurmdTimeout=300
$node State=UNKNOWN NodeAddr=127.0.0.1
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  say "wrote $CONF: $node"
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -N -o %t 2>/dev/null | head -1; }

cluster_up() {
  pid_alive "$STATE/slurmctld.pid" && pid_alive "$STATE/slurmd.pid" && scontrol ping >/dev/null 2>&1 \
    && case "$(node_state)" in idle*|mix*|alloc*|comp*) true;; *) false;; esac
}

start() {
  preflight start
  mkdir -p "$STATE"
  if [ -e "$CONF" ] && grep -qF "$MARK" "$CONF" && cluster_up; then
    say "already running: partition $PARTITION, node $(hostname -s) $(node_state)"; return 0
  fi
  start_munge
  write_conf
  pid_alive "$STATE/slurmctld.pid" || slurmctld -f "$CONF"
  pid_alive "$STATE/slurmd.pid" || slurmd -f "$CONF"
  local state=""
  for i in $(seq 120); do
    state="$(node_state)"
    case "$state" in
      idle*|mix*|alloc*) break;;
      down*|drain*|drng*)
        [ $((i % 10)) = 0 ] && scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true;;
    esac
    sleep 0.5
  done
  if ! cluster_up; then
    echo "--- $STATE/slurmctld.log" >&2; tail -20 "$STATE/slurmctld.log" >&2 2>/dev/null || true
    echo "--- $STATE/slurmd.log" >&2; tail -20 "$STATE/slurmd.log" >&2 2>/dev/null || true
    die "the node did not come up (state: ${state:-none}); logs above"
  fi
  say "running: partition $PARTITION, node $(hostname -s) $state; job log $STATE/jobcomp.log"
  say "try: snakemake --profile profiles/slurm --profile profiles/slurm_local"
}

stop_pid() {  # stop_pid NAME PIDFILE
  if pid_alive "$2"; then
    local pid; pid="$(cat "$2")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    say "stopped $1"
  fi
  rm -f "$2"
}

stop() {
  preflight stop
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF was not written by this script; not stopping a cluster it did not start"
  fi
  if [ -e "$CONF" ] && pid_alive "$STATE/slurmctld.pid"; then
    local left
    left="$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null | wc -l)"
    if [ "$left" != 0 ]; then
      say "cancelling $left job(s)"
      squeue -h -t PD,R,CG,S -o %i | xargs -r scancel 2>/dev/null || true
      for _ in $(seq 100); do [ "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.2; done
    fi
  fi
  stop_pid slurmd "$STATE/slurmd.pid"
  stop_pid slurmctld "$STATE/slurmctld.pid"
  if [ -e "$STATE/munged.ours" ]; then
    local mpid; mpid="$(cat /run/munge/munged.pid 2>/dev/null || true)"
    if [ -n "$mpid" ] && kill -0 "$mpid" 2>/dev/null; then kill "$mpid"; say "stopped munged"; fi
    rm -f "$STATE/munged.ours"
  fi
  [ -e "$CONF" ] && grep -qF "$MARK" "$CONF" && rm -f "$CONF"
  rm -rf "$STATE"
  say "stopped"
}

status() {
  if [ ! -e "$CONF" ] || ! grep -qF "$MARK" "$CONF"; then say "not running (no $CONF of ours)"; exit 3; fi
  if cluster_up; then
    say "running: munge $(munge_ok && echo ok || echo 'NOT answering'), node $(hostname -s) $(node_state)"
    sinfo
    squeue
  else
    say "not running (slurmctld $(pid_alive "$STATE/slurmctld.pid" && echo up || echo down)," \
        "slurmd $(pid_alive "$STATE/slurmd.pid" && echo up || echo down), node $(node_state))"
    exit 3
  fi
}

case "${1:-}" in
  start) start;;
  stop) stop;;
  status) status;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2;;
esac
