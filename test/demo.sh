#!/usr/bin/env bash
# The main job, from nothing: set up, bring up the local SLURM cluster, build,
# start the daemon, register the cluster, submit a sample job and follow it to
# its end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash test/setup.sh
bash test/cluster/up.sh
npm run --silent build
. "${SLURM_ML_CLUSTER_DIR:-/var/tmp/slurm-ml-cluster}/env.sh"
cli=./bin/slurm-ml
echo "== daemon"
$cli daemon start
if ! $cli cluster list --json | grep -q '"name": "local"'; then
  echo "== registering the local cluster"
  $cli cluster add local --host "$SLURM_ML_TEST_HOST" --port "$SLURM_ML_TEST_PORT" --user "$SLURM_ML_TEST_USER" \
    --identity "$SLURM_ML_TEST_IDENTITY" --known-hosts "$SLURM_ML_TEST_KNOWN_HOSTS"
fi
echo "== cluster"
$cli cluster test local
echo "== submitting test/demo/hello.sbatch (states follow as the daemon sees them)"
$cli submit test/demo/hello.sbatch --cluster local --wait
echo "== recent jobs"
$cli jobs --limit 5
echo
echo "The daemon keeps running; try: $cli health, $cli jobs, $cli daemon stop"
