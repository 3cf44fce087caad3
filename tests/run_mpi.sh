#!/usr/bin/env bash
# Runs a command as N local MPI ranks for ctest: run_mpi.sh N command [args].
# Exits 77 (ctest: skipped) when the build has no MPI (TG_MPI_BUILT != 1) or
# mpirun is missing. One OpenMP thread per rank; root (containers, CI) needs
# --allow-run-as-root.
set -euo pipefail
np=$1
shift
if [ "${TG_MPI_BUILT:-0}" != 1 ] || ! command -v mpirun > /dev/null; then
  echo "MPI not available in this build: skipped"
  exit 77
fi
flags=(-np "$np" --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1
for v in OMP_NUM_THREADS OMP_WAIT_POLICY TG_SOURCE_DIR CK_DEFAULT_TIMEOUT ASAN_OPTIONS UBSAN_OPTIONS; do
  [ -n "${!v:-}" ] && flags+=(-x "$v")
done
exec mpirun "${flags[@]}" "$@"
