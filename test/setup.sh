#!/usr/bin/env bash
# Installs what building and testing slurm-ml needs on a fresh Debian machine
# (run as root): the npm dependencies, compiled natively (better-sqlite3, ssh2).
# The local SLURM cluster installs its own packages: test/cluster/up.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "slurm-ml needs Node.js >= 20 (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
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
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
