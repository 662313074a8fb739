#!/usr/bin/env bash
# Installs what the editor tests need, outside the repository:
# code-server 4.100.3 (VS Code 1.100.3, the last one on Node 20) into
# ${SLURM_ML_CACHE:-$HOME/.cache/slurm-ml}/code-server, and Debian's chromium.
# A plain `npm install code-server` fails four times here; the fixes are
# explained in the project notes (unsafe-perm as root, kerberos headers,
# ripgrep from GitHub, node-gyp through npx).
set -euo pipefail
cache=${SLURM_ML_CACHE:-$HOME/.cache/slurm-ml}
dir=$cache/code-server
version=4.100.3
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v rg >/dev/null || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
if [ ${#need[@]} -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi
if [ -x "$dir/node_modules/.bin/code-server" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# @vscode/ripgrep's postinstall looks here before downloading from GitHub.
rgcache=$tmp/vscode-ripgrep-cache-1.15.11
mkdir -p "$rgcache/pkg/bin"
cp "$(command -v rg)" "$rgcache/pkg/rg"
tar -C "$rgcache/pkg" -czf "$rgcache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
cd "$dir"
[ -f package.json ] || echo '{"name":"slurm-ml-code-server","private":true}' > package.json
TMPDIR=$tmp npm_config_unsafe_perm=true npm_config_yes=true ONNXRUNTIME_NODE_INSTALL=skip \
  npm install --no-audit --no-fund --loglevel=error "code-server@$version"
echo "$version" > .version
