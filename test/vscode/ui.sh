#!/usr/bin/env bash
# The UI test: packages the extension (.vsix), installs it into a fresh
# code-server per scenario and drives the workbench in headless Chromium
# (test/vscode/ui.ts). Screenshots: test-artifacts/ui/. Needs the local
# cluster (test/cluster/up.sh). Arguments: scenarios (main hostkey password
# crash mismatch silent nodeless). SLURM_ML_VSIX: the package to test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../node.sh
. test/node.sh
bash test/vscode/install.sh
if [ -f /var/tmp/slurm-ml-cluster/env.sh ]; then
  # shellcheck disable=SC1091
  . /var/tmp/slurm-ml-cluster/env.sh
fi
# The password and passphrase scenario logs in through the extra PAM sshd (127.0.0.1:2224).
bash test/cluster/extra-sshd.sh >/dev/null
# SLURM_ML_VSIX=FILE tests that package (e.g. a per-platform one) instead of
# the one `npm run package` builds here.
vsix=${SLURM_ML_VSIX:-}
if [ -z "$vsix" ]; then
  npm run --silent package >/dev/null
  vsix=slurm-ml.vsix
fi
exec node --import tsx test/vscode/ui.ts "$vsix" "$@"
