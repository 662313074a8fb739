#!/usr/bin/env bash
# npm run test:pack: the tarball `npm pack` makes is an installable slurm-ml
# CLI. Packs (prepack builds dist/), installs the tarball globally into a
# temporary prefix as a terminal user would (npm builds the native modules for
# this Node: about 2 minutes), and runs the installed `slurm-ml`: --version, a
# daemon start, status and stop; with the local cluster (test/cluster/up.sh)
# also cluster add and a submit followed to COMPLETED.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=node.sh
. test/node.sh
work=$(mktemp -d /tmp/smp-XXXXXX)
trap 'slurm-ml daemon stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" >/dev/null
tgz=$(ls "$work"/slurm-ml-*.tgz)
files=$(tar -tzf "$tgz")
echo "packed $(basename "$tgz") ($(du -h "$tgz" | cut -f1)): $(echo "$files" | tr '\n' ' ')"
for f in package/bin/slurm-ml package/dist/cli.js package/dist/daemon.js package/dist/gbdtWorker.js package/templates/train.sbatch.hbs; do
  grep -qx "$f" <<<"$files" || { echo "FAIL: $f is not in the tarball" >&2; exit 1; }
done
ONNXRUNTIME_NODE_INSTALL=skip npm_config_unsafe_perm=true \
  npm install --silent --no-audit --no-fund -g --prefix "$work/prefix" "$tgz" 2>/dev/null
export PATH=$work/prefix/bin:$PATH SLURM_ML_STATE_DIR=$work/state
[ "$(command -v slurm-ml)" = "$work/prefix/bin/slurm-ml" ] || { echo "FAIL: the install has no slurm-ml bin" >&2; exit 1; }
version=$(slurm-ml --version)
[ "$version" = "slurm-ml $(node -p 'require("./package.json").version')" ] || { echo "FAIL: slurm-ml --version printed: $version" >&2; exit 1; }
slurm-ml daemon start >/dev/null
slurm-ml daemon status --json | node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")); if (!s.running) process.exit(1)'
if [ -f /var/tmp/slurm-ml-cluster/env.sh ]; then
  # shellcheck disable=SC1091
  . /var/tmp/slurm-ml-cluster/env.sh
  slurm-ml cluster add packed --host "$SLURM_ML_TEST_HOST" --port "$SLURM_ML_TEST_PORT" --user "$SLURM_ML_TEST_USER" \
    --identity "$SLURM_ML_TEST_IDENTITY" --known-hosts "$SLURM_ML_TEST_KNOWN_HOSTS" >/dev/null
  state=$(timeout 300 slurm-ml submit test/demo/hello.sbatch --cluster packed --wait --json 2>/dev/null | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).state)')
  [ "$state" = COMPLETED ] || { echo "FAIL: the installed CLI's job ended $state" >&2; exit 1; }
fi
slurm-ml daemon stop >/dev/null
echo "ok: npm pack gives an installable slurm-ml ($version)"
