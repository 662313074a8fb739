#!/usr/bin/env bash
# Installs what building and testing slurm-ml needs on a fresh Debian machine
# (run as root): the npm dependencies, ssh2's optional crypto binding compiled natively.
# The local SLURM cluster installs its own packages: test/cluster/up.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A current Node.js LTS (24, or SLURM_ML_NODE=22) from npm, first in PATH.
# shellcheck source=node.sh
. test/node.sh
# Native addons build with node-gyp when no prebuilt binary can be fetched.
if ! command -v make >/dev/null || ! command -v g++ >/dev/null || ! command -v python3 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq make g++ python3 >/dev/null
fi
# onnxruntime-node's install script tries to download CUDA binaries; the CPU
# backend it ships is all slurm-ml uses.
export ONNXRUNTIME_NODE_INSTALL=skip
stamp=node_modules/.slurm-ml-lock-hash
# Native modules are built for one Node ABI: a new lock file or another Node reinstalls.
want="$(sha256sum package-lock.json | cut -d' ' -f1) node-abi-$(node -p process.versions.modules)"
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
