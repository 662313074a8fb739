# Sourced by the project's scripts: puts a current Node.js LTS first in PATH.
# The machine's own `node` may be older (Debian 12 ships 18, some images 20,
# which is end of life); the npm package node-<os>-<arch>@MAJOR carries the
# official binary and its headers (native modules build against them).
#
#   SLURM_ML_NODE=24|22   the major version (default 24)
#   SLURM_ML_CACHE        where it is kept (default ~/.cache/slurm-ml)
#
# After sourcing: `node` is that version, npm builds native code for it
# (npm_config_nodedir), and SLURM_ML_NODE_BIN names the binary.
slurm_ml_node_major=${SLURM_ML_NODE:-24}
case $slurm_ml_node_major in 22 | 24) ;; *)
  echo "SLURM_ML_NODE must be 22 or 24 (got: $slurm_ml_node_major)" >&2
  return 1 2>/dev/null || exit 1
  ;;
esac
slurm_ml_node_arch=$(uname -m)
case $slurm_ml_node_arch in x86_64) slurm_ml_node_arch=x64 ;; aarch64) slurm_ml_node_arch=arm64 ;; esac
slurm_ml_node_dir=${SLURM_ML_CACHE:-$HOME/.cache/slurm-ml}/node-$slurm_ml_node_major-linux-$slurm_ml_node_arch
if [[ ! -x $slurm_ml_node_dir/bin/node ]]; then
  slurm_ml_node_tmp=$(mktemp -d)
  echo "installing Node.js $slurm_ml_node_major (npm package node-linux-$slurm_ml_node_arch@$slurm_ml_node_major) into $slurm_ml_node_dir" >&2
  if ! (cd "$slurm_ml_node_tmp" && npm pack --silent "node-linux-$slurm_ml_node_arch@$slurm_ml_node_major" >/dev/null); then
    echo "could not fetch node-linux-$slurm_ml_node_arch@$slurm_ml_node_major from npm" >&2
    rm -rf "$slurm_ml_node_tmp"
    return 1 2>/dev/null || exit 1
  fi
  mkdir -p "$slurm_ml_node_tmp/x"
  tar -xzf "$slurm_ml_node_tmp"/node-linux-*.tgz -C "$slurm_ml_node_tmp/x"
  rm -rf "$slurm_ml_node_dir"
  mkdir -p "$(dirname "$slurm_ml_node_dir")"
  mv "$slurm_ml_node_tmp/x/package" "$slurm_ml_node_dir"
  rm -rf "$slurm_ml_node_tmp"
fi
export PATH="$slurm_ml_node_dir/bin:$PATH"
export npm_config_nodedir=$slurm_ml_node_dir
export SLURM_ML_NODE_BIN=$slurm_ml_node_dir/bin/node
unset slurm_ml_node_major slurm_ml_node_arch slurm_ml_node_dir slurm_ml_node_tmp
