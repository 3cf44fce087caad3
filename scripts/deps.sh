#!/usr/bin/env bash
# Installs the Debian 12 packages tensorgrad needs, when any is missing.
set -euo pipefail
# oneDNN's CMake config looks for OpenCL (ocl-icd-opencl-dev, opencl-c-headers),
# which --no-install-recommends leaves out. Open MPI: multi-process
# data-parallel training (the build works without it). Chromium: the test that
# renders the HTML reports headless. libmicrohttpd: serve_claims's HTTP
# server; curl: its test talks to it.
pkgs=(build-essential cmake pkg-config libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
      check libjansson-dev libomp-dev libopenmpi-dev openmpi-bin python3 binutils clang-format chromium
      libmicrohttpd-dev curl)
[ "${TG_WITH_TORCH:-0}" = 1 ] && pkgs+=(python3-torch)
# wrk: only bench/serve_load.sh needs it
[ "${TG_WITH_BENCH:-0}" = 1 ] && pkgs+=(wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
