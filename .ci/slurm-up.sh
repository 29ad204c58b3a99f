#!/usr/bin/env bash
# Start a single-node SLURM (slurmctld + slurmd on localhost, munge auth, one fake GPU) for testing the cluster
# profile. Needs root and Debian's slurm-wlm + munge (apt-get install -y --no-install-recommends slurm-wlm munge).
# Usage: source .ci/slurm-up.sh   (exports SLURM_CONF; .ci/slurm-down.sh stops the daemons)
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-/tmp/rwbench-slurm}
mkdir -p "$SLURM_DIR"/{state,spool,log}
HOST=$(hostname)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge: key, runtime dir owned by the munge user, daemon as that user
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! pgrep -x munged > /dev/null; then
  su -s /bin/sh munge -c "/usr/sbin/munged --force" || runuser -u munge -- /usr/sbin/munged --force
fi

cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=rwbench
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ReturnToService=2
NodeName=localhost NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
echo "Name=gpu File=/dev/null" > "$SLURM_DIR/gres.conf"
export SLURM_CONF="$SLURM_DIR/slurm.conf"
# job steps (srun inside a batch job) may not inherit SLURM_CONF: also install it at the default location
mkdir -p /etc/slurm && cp "$SLURM_DIR/slurm.conf" /etc/slurm/slurm.conf && cp "$SLURM_DIR/gres.conf" /etc/slurm/gres.conf

pgrep -x slurmctld > /dev/null || (slurmctld -D -i > "$SLURM_DIR/log/slurmctld.out" 2>&1 & echo $! > "$SLURM_DIR/ctld.pid")
sleep 2
pgrep -x slurmd > /dev/null || (slurmd -D -N localhost > "$SLURM_DIR/log/slurmd.out" 2>&1 & echo $! > "$SLURM_DIR/d.pid")
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed"; then
    echo "SLURM up: $(sinfo -h -o '%P %D %T %G')"
    return 0 2>/dev/null || exit 0
  fi
  sleep 1
done
echo "SLURM did not come up; see $SLURM_DIR/log" >&2
return 1 2>/dev/null || exit 1
