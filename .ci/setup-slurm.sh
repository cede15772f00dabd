#!/usr/bin/env bash
# A one-node Slurm on this machine (localhost, 2 CPUs) for the test of
# `diffract submit --slurm` (test/acceptance/slurm.test.ts).
#
#   bash .ci/setup-slurm.sh          installs Debian's slurm-wlm and munge, writes
#                                    /etc/slurm/slurm.conf (run by .ci/run)
#   bash .ci/setup-slurm.sh start    starts munged, slurmctld and slurmd (as root),
#                                    waits until the node is idle
#   bash .ci/setup-slurm.sh stop     stops the three daemons again
#
# The test starts the daemons itself when `sinfo` cannot reach a controller,
# and stops what it started at its end; nothing listens beyond loopback.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
CONF=/etc/slurm/slurm.conf
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm

install() {
  if ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
  [ -s /etc/munge/munge.key ] || $SUDO mungekey --create --force 2>/dev/null || $SUDO /usr/sbin/create-munge-key -f
  $SUDO mkdir -p /etc/slurm "$STATE" "$SPOOL" "$LOGS"
  $SUDO tee "$CONF" >/dev/null <<CONF
# one-node Slurm for diffract's CI (.ci/setup-slurm.sh)
ClusterName=diffract-ci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=$SPOOL
StateSaveLocation=$STATE
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.txt
MinJobAge=600
NodeName=localhost CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  echo "[setup] slurm $(sbatch --version) and munge installed; $CONF written"
}

# daemon name → its pid file (each daemon writes its own; stop signals exactly those processes)
pidfile() {
  case "$1" in
    munged) echo /run/munge/munged.pid ;;
    slurmctld) echo /run/slurmctld.pid ;;
    slurmd) echo /run/slurmd.pid ;;
  esac
}

running() {
  local f; f=$(pidfile "$1")
  [ -s "$f" ] && $SUDO kill -0 "$(cat "$f")" 2>/dev/null
}

start() {
  $SUDO mkdir -p /run/munge "$STATE" "$SPOOL" "$LOGS"
  $SUDO chown munge:munge /run/munge 2>/dev/null || true
  # as root munged warns about the ownership of its log folder; --force starts it anyway
  running munged || $SUDO munged --force --pid-file "$(pidfile munged)"
  running slurmctld || $SUDO slurmctld
  running slurmd || $SUDO slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then echo "[setup] slurm node up"; return 0; fi
    $SUDO scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "[setup] the slurm node did not come up; see $LOGS" >&2
  sinfo >&2 || true
  return 1
}

stop() {
  for d in slurmd slurmctld munged; do
    if running "$d"; then $SUDO kill "$(cat "$(pidfile "$d")")" || true; fi
  done
  for _ in $(seq 1 20); do
    running slurmd || running slurmctld || running munged || return 0
    sleep 0.5
  done
}

case "${1:-install}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 [install|start|stop]" >&2; exit 2 ;;
esac
