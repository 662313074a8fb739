#!/usr/bin/env bash
# The main job, from nothing: set up, bring up the local SLURM cluster, build,
# start the daemon, register the cluster, then the ML workflow on the sample
# project (test/demo/ml): train two versions, evaluate them, gate, promote
# the better one to prod and predict with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=node.sh
. test/node.sh
bash test/setup.sh
bash test/cluster/up.sh
npm run --silent build
. "${SLURM_ML_CLUSTER_DIR:-/var/tmp/slurm-ml-cluster}/env.sh"
cli=./bin/slurm-ml
sample=test/demo/ml
echo "== daemon"
$cli daemon start
if ! $cli cluster list --json | grep -q '"name": "local"'; then
  echo "== registering the local cluster"
  $cli cluster add local --host "$SLURM_ML_TEST_HOST" --port "$SLURM_ML_TEST_PORT" --user "$SLURM_ML_TEST_USER" \
    --identity "$SLURM_ML_TEST_IDENTITY" --known-hosts "$SLURM_ML_TEST_KNOWN_HOSTS"
fi
$cli cluster test local

echo "== a plain job: test/demo/hello.sbatch (states as the daemon sees them)"
$cli submit test/demo/hello.sbatch --cluster local --wait

wf=(--cluster local --workspace "$sample")
echo "== training two versions of 'digits' (the sample project, scikit-learn on the cluster)"
$cli train digits "${wf[@]}" --entrypoint train.py --config config.json --tag config=default --wait | tail -1
$cli train digits "${wf[@]}" --entrypoint train.py --config config-better.json --tag config=better --wait | tail -1
latest=$($cli models --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).models.find(m=>m.name==="digits").latest))')
previous=$((latest - 1))

echo "== evaluating v$previous and v$latest (accuracy, latency percentiles, throughput)"
$cli evaluate "digits@v$previous" "${wf[@]}" --dataset digits --entrypoint evaluate.py --config config.json --wait | tail -1
$cli evaluate "digits@v$latest" "${wf[@]}" --dataset digits --entrypoint evaluate.py --config config.json --wait | tail -1

# The sample predicts in microseconds: a 10 % latency rule would judge noise.
$cli rules digits --set accuracy:higher:0.01:absolute --set latency_p95_ms:lower:0.5:absolute
echo "== regression gate: v$latest against v$previous"
$cli gate digits --candidate "$latest" --baseline "$previous" || true
if ! $cli model digits --json | grep -q '"prod"'; then
  $cli promote digits "$previous" --reason "first production model"
fi
echo "== promoting v$latest to prod (needs a passing gate against the current prod)"
$cli promote digits "$latest"

echo "== predicting with digits@prod on 20 rows uploaded to the cluster"

ssh -p "$SLURM_ML_TEST_PORT" -i "$SLURM_ML_TEST_IDENTITY" -o UserKnownHostsFile="$SLURM_ML_TEST_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
  "$SLURM_ML_TEST_USER@$SLURM_ML_TEST_HOST" 'mkdir -p ~/slurm-ml-demo && cat > ~/slurm-ml-demo/sample.csv' < "$sample/inputs/sample.csv"
home=$(ssh -p "$SLURM_ML_TEST_PORT" -i "$SLURM_ML_TEST_IDENTITY" -o UserKnownHostsFile="$SLURM_ML_TEST_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
  "$SLURM_ML_TEST_USER@$SLURM_ML_TEST_HOST" 'echo $HOME')
$cli predict digits@prod "${wf[@]}" --input "$home/slurm-ml-demo/sample.csv" --entrypoint predict.py --wait | tail -1
echo "== the model"
$cli model digits

echo "== VS Code (code-server) with the extension, on the sample workspace"
bash test/vscode/install.sh
npm run --silent package >/dev/null
npm run --silent build
cache=${SLURM_ML_CACHE:-$HOME/.cache/slurm-ml}
cs=$cache/code-server/node_modules/.bin/code-server
demo=$cache/demo-editor
port=${SLURM_ML_DEMO_PORT:-8080}
mkdir -p "$demo/data/User"
# A demo on the user's own sample: no workspace-trust prompt, no welcome page.
cat >"$demo/data/User/settings.json" <<'JSON'
{ "security.workspace.trust.enabled": false, "workbench.startupEditor": "none", "telemetry.telemetryLevel": "off" }
JSON
if [ -f "$demo/pid" ] && kill -0 "$(cat "$demo/pid")" 2>/dev/null; then
  kill "$(cat "$demo/pid")" && sleep 1
fi
EXTENSIONS_GALLERY='{}' "$cs" --extensions-dir "$demo/extensions" --user-data-dir "$demo/data" --install-extension "$PWD/slurm-ml.vsix" >/dev/null
EXTENSIONS_GALLERY='{}' setsid "$cs" --auth none --bind-addr "127.0.0.1:$port" --disable-telemetry \
  --extensions-dir "$demo/extensions" --user-data-dir "$demo/data" "$PWD/test/demo" >"$demo/code-server.log" 2>&1 &
echo $! >"$demo/pid"
for _ in $(seq 60); do
  node -e 'require("http").get(process.argv[1], (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1))' "http://127.0.0.1:$port/healthz" && break
  sleep 1
done
echo
echo "VS Code with Slurm ML: http://127.0.0.1:$port/?folder=$PWD/test/demo"
echo "  (the Slurm ML activity bar shows the cluster, the jobs above and the digits model; stop it: kill \$(cat $demo/pid))"
echo "The daemon keeps running; try: $cli jobs, $cli logs ID, $cli models, $cli rollback digits, $cli daemon stop"
