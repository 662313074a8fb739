#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine (as root) and runs every test:
# type-check, build, unit tests, and integration tests against the local SLURM
# cluster over SSH (started here by test/cluster/up.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
# Every step runs on a current Node.js LTS (test/node.sh; SLURM_ML_NODE=22 for the other one).
# shellcheck source=node.sh
. test/node.sh
bash test/setup.sh
bash test/cluster/up.sh
# A jump host and a password/keyboard-interactive sshd for the SSH tests.
bash test/cluster/extra-sshd.sh
npm run --silent typecheck
npm run --silent build
npm run --silent test:unit
npm run --silent test:integration
# One package per platform (docs/packaging.md), each checked: natives for its target only, nothing
# twice, glibc floor 2.28; then this machine's package runs a job from its own node_modules.
npm run --silent package:all
npm run --silent test:package
# The extension inside a real VS Code (code-server + headless Chromium; installed on first use).
npm run --silent test:vscode
# The packaged .vsix in code-server, driven through its UI; screenshots in test-artifacts/ui/.
npm run --silent test:ui
npm run --silent test:webview
# Faults stop and restart the cluster's daemons: alone, after everything else.
npm run --silent test:faults
echo "all tests passed in $((SECONDS - started)) s"
