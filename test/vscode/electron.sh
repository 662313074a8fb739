#!/usr/bin/env bash
# npm run test:electron: the VS Code suite in desktop VS Code (test/vscode/electron.ts).
# Needs the local cluster (test/cluster/up.sh) and a machine that can download VS Code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../node.sh
. test/node.sh
if [ -f /var/tmp/slurm-ml-cluster/env.sh ]; then
  # shellcheck disable=SC1091
  . /var/tmp/slurm-ml-cluster/env.sh
fi
exec node --import tsx test/vscode/electron.ts "$@"
