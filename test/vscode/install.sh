#!/usr/bin/env bash
# Installs what the editor tests need, outside the repository:
# code-server 4.139.1 (VS Code 1.139.1; it runs on Node 24, the Node
# test/node.sh provides) into ${SLURM_ML_CACHE:-$HOME/.cache/slurm-ml}/code-server,
# and Debian's chromium. A plain `npm install code-server` fails here; the
# fixes are explained in the project notes (unsafe-perm as root, kerberos
# headers, node-gyp through npx). Ripgrep needs no fix any more: VS Code 1.139
# takes it from @vscode/ripgrep-universal, which carries the binaries instead
# of downloading them from GitHub as @vscode/ripgrep's postinstall did.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# code-server's postinstall refuses any Node but 24 and builds its native
# modules for the Node that installs it.
# shellcheck source=../node.sh
SLURM_ML_NODE=24 . "$here/../node.sh"
cache=${SLURM_ML_CACHE:-$HOME/.cache/slurm-ml}
dir=$cache/code-server
version=4.139.1
need=()
command -v chromium >/dev/null || need+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
# node-gyp builds kerberos, node-pty, @vscode/sqlite3 and argon2 from source.
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi
if [ -x "$dir/node_modules/.bin/code-server" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ] && [ -x "$(cat "$dir/.node" 2>/dev/null)" ]; then
  exit 0
fi
echo "installing code-server $version into $dir (a few minutes, once)" >&2
rm -rf "$dir"
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$dir"
echo '{"name":"slurm-ml-code-server","private":true}' > package.json
TMPDIR=$tmp npm_config_unsafe_perm=true npm_config_yes=true ONNXRUNTIME_NODE_INSTALL=skip \
  npm install --no-audit --no-fund --loglevel=error "code-server@$version"
# The search service's rg must be there (an install that skipped it leaves search broken).
rg=$(find "$dir/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep-universal" -path "*linux*$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')*" -name rg -type f 2>/dev/null | head -1)
[ -n "$rg" ] && "$rg" --version >/dev/null || { echo "code-server $version installed without a working ripgrep" >&2; exit 1; }
# The tests start code-server by this Node's absolute path (codeServer.ts).
echo "$SLURM_ML_NODE_BIN" > .node
echo "$version" > .version
