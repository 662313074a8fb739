#!/usr/bin/env bash
# Runs the extension's integration suite (test/vscode/suite) inside a real VS
# Code: code-server 4.139.1's extension host (on Node 24), driven by headless Chromium.
# Needs the local cluster (test/cluster/up.sh) for the cluster it registers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../node.sh
. test/node.sh
bash test/vscode/install.sh
if [ -f /var/tmp/slurm-ml-cluster/env.sh ]; then
  # shellcheck disable=SC1091
  . /var/tmp/slurm-ml-cluster/env.sh
fi
npm run --silent build
exec node --import tsx test/vscode/run.ts "$@"
