#!/usr/bin/env bash
# Stop the daemons .ci/slurm-up.sh started (by their pid files, then by name as a fallback).
SLURM_DIR=${SLURM_DIR:-/tmp/rwbench-slurm}
for f in "$SLURM_DIR/d.pid" "$SLURM_DIR/ctld.pid"; do
  [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"
done
pkill -x slurmd 2>/dev/null; pkill -x slurmctld 2>/dev/null
sleep 2
pkill -9 -x slurmd 2>/dev/null; pkill -9 -x slurmctld 2>/dev/null
true
