// Builds one .vsix per platform: `npm run package -- --target T` (slurm-ml-T.vsix),
// `npm run package:all` (every target below), `npm run package` (this machine's
// platform, as slurm-ml.vsix, which the UI tests and the demo install).
//
// Each package is staged in .cache/package/<T>/ with exactly what it runs:
// dist/ (the production bundles), templates/, media/, README and a
// node_modules holding only the packages the bundles load at run time (found
// in dist/*.js as require("x") / import("x")), with their dependencies, and
// of their native parts only T's:
//   - libsql: the @libsql/<platform> package of T (installed here for this
//     machine's platform, else fetched with `npm pack`);
//   - onnxruntime-node: bin/napi-v*/<os>/<arch> of T only;
//   - ssh2: without its optional native parts (sshcrypto, cpu-features), which
//     are compiled here for this machine's glibc only; ssh2 falls back to its
//     JavaScript crypto. Its Pageant helper pagent.exe only in Windows packages.
// Everything bundled into dist/ is absent from node_modules. vsce then
// packages the staging directory with --target T (the Marketplace and Open
// VSX serve each platform its package).
//
// This lives in scripts/ (not test/): it makes the release artefacts, and the
// .vscodeignore keeps scripts/ out of every package. Its checks are
// test/package/check.ts (npm run test:package).
//
//   node scripts/package.mjs [--target T]... [--all] [--out FILE] [--no-build]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

/**
 * The platforms packaged, as vsce names them. darwin-x64 is left out:
 * onnxruntime-node 1.30 has no macOS x64 binary. win32-arm64: libsql has no
 * Windows arm64 package. Alpine (musl): onnxruntime-node has no musl build.
 */
export const TARGETS = {
  'linux-x64': { os: 'linux', arch: 'x64', libsql: '@libsql/linux-x64-gnu' },
  'linux-arm64': { os: 'linux', arch: 'arm64', libsql: '@libsql/linux-arm64-gnu' },
  'darwin-arm64': { os: 'darwin', arch: 'arm64', libsql: '@libsql/darwin-arm64' },
  'win32-x64': { os: 'win32', arch: 'x64', libsql: '@libsql/win32-x64-msvc' },
};

/** Optional native parts of ssh2, built here for this machine only; ssh2 works without them. */
const LEFT_OUT_PACKAGES = new Set(['cpu-features', 'nan']);
/** Packages a shipped package needs only in its install script (onnxruntime-node's downloader). */
const INSTALL_ONLY = { 'onnxruntime-node': ['adm-zip', 'global-agent'] };

function hostTarget() {
  const t = `${process.platform}-${process.arch}`;
  if (!(t in TARGETS)) throw new Error(`this machine (${t}) is not a packaged platform; give --target`);
  return t;
}

function parseArgs(argv) {
  const targets = [];
  let all = false;
  let out;
  let build = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') targets.push(argv[++i]);
    else if (a.startsWith('--target=')) targets.push(a.slice('--target='.length));
    else if (a === '--all') all = true;
    else if (a === '--out') out = argv[++i];
    else if (a.startsWith('--out=')) out = a.slice('--out='.length);
    else if (a === '--no-build') build = false;
    else throw new Error(`unknown argument ${a} (--target T, --all, --out FILE, --no-build)`);
  }
  for (const t of targets) if (!(t in TARGETS)) throw new Error(`unknown target ${t}; one of ${Object.keys(TARGETS).join(', ')}`);
  const list = all ? Object.keys(TARGETS) : targets.length > 0 ? targets : [hostTarget()];
  if (out && list.length !== 1) throw new Error('--out names one package: give one --target');
  // No --target at all: this machine's package under the name the tests and the demo install.
  const outFor = (t) => path.resolve(out ?? (targets.length === 0 && !all ? path.join(root, 'slurm-ml.vsix') : path.join(root, `slurm-ml-${t}.vsix`)));
  return { list, outFor, build };
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));

/** Bare module names the bundles load at run time. */
export function runtimeImports(distDir) {
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const names = new Set();
  for (const f of fs.readdirSync(distDir)) {
    if (!f.endsWith('.js')) continue;
    const text = fs.readFileSync(path.join(distDir, f), 'utf8');
    for (const m of text.matchAll(/\b(?:require|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
      const spec = m[1];
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!builtins.has(name) && !builtins.has(spec) && name !== 'vscode') names.add(name);
    }
  }
  return [...names].sort();
}

/** Where Node would find package `name` from directory `from` (inside root/node_modules). */
function resolvePackageDir(name, from) {
  for (let dir = from; dir.startsWith(root); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root) break;
  }
  return undefined;
}

function copyTree(src, dest, skip) {
  fs.mkdirSync(dest, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    if (skip(s, e)) continue;
    const d = path.join(dest, e.name);
    if (e.isDirectory()) copyTree(s, d, skip);
    else if (e.isFile()) fs.copyFileSync(s, d);
  }
}

/** The target's @libsql package: installed here (this machine's platform) or fetched with npm pack. */
function libsqlPlatformDir(pkg, version) {
  const installed = path.join(root, 'node_modules', pkg);
  if (fs.existsSync(installed) && readJson(path.join(installed, 'package.json')).version === version) return installed;
  const cache = path.join(root, '.cache', 'package', 'npm', `${pkg.replace('/', '+')}@${version}`);
  if (!fs.existsSync(path.join(cache, 'package', 'package.json'))) {
    fs.rmSync(cache, { recursive: true, force: true });
    fs.mkdirSync(cache, { recursive: true });
    const tgz = execFileSync('npm', ['pack', '--silent', `${pkg}@${version}`], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', path.join(cache, tgz), '-C', cache]);
    fs.rmSync(path.join(cache, tgz));
  }
  return path.join(cache, 'package');
}

/**
 * Copies the runtime closure of `entry` packages into stage/node_modules,
 * each at the same place Node finds it here. Returns the package directories
 * (relative to stage) and those only install scripts need.
 */
function stageNodeModules(stage, entries, target) {
  const t = TARGETS[target];
  const staged = new Map(); // dir relative to stage -> package name
  const reached = { runtime: new Set(), install: new Set() };
  const visit = (name, fromDir, installPath) => {
    if (LEFT_OUT_PACKAGES.has(name)) return;
    const src = resolvePackageDir(name, fromDir);
    if (!src) return; // an optional dependency not installed (ws's bufferutil)
    const rel = path.relative(root, src);
    const seen = installPath ? reached.install : reached.runtime;
    if (seen.has(rel)) return;
    seen.add(rel);
    const pkg = readJson(path.join(src, 'package.json'));
    if (!staged.has(rel)) {
      staged.set(rel, name);
      copyTree(src, path.join(stage, rel), (p, e) => {
        const r = path.relative(src, p).split(path.sep);
        if (e.isDirectory() && e.name === 'node_modules') return true; // nested packages come through visit()
        // onnxruntime-node: bin/napi-v*/<os>/<arch>/ of the target only.
        if (name === 'onnxruntime-node' && r[0] === 'bin' && ((r.length >= 3 && r[2] !== t.os) || (r.length >= 4 && r[3] !== t.arch))) return true;
        // ssh2: its native crypto binding, built here for this machine only, and its sources.
        if (name === 'ssh2' && r.join('/').match(/^lib\/protocol\/crypto\/(build|src)$/)) return true;
        // ssh2: its Pageant helper (a 32-bit Windows program) is for Windows only.
        if (name === 'ssh2' && t.os !== 'win32' && r.join('/') === 'util/pagent.exe') return true;
        return false;
      });
      if (name === 'libsql') {
        const version = pkg.optionalDependencies?.[t.libsql];
        if (!version) throw new Error(`libsql ${pkg.version} lists no ${t.libsql}`);
        const dest = path.join(stage, 'node_modules', t.libsql);
        copyTree(libsqlPlatformDir(t.libsql, version), dest, () => false);
        staged.set(path.relative(stage, dest), t.libsql);
        reached.runtime.add(path.relative(stage, dest));
      }
    }
    const deps = { ...(pkg.dependencies ?? {}), ...(pkg.optionalDependencies ?? {}) };
    for (const dep of Object.keys(deps)) {
      if (dep.startsWith('@libsql/')) continue; // the target's one, above
      visit(dep, src, installPath || (INSTALL_ONLY[name] ?? []).includes(dep));
    }
  };
  for (const e of entries) visit(e, root, false);
  const installOnly = [...reached.install].filter((r) => !reached.runtime.has(r)).sort();
  return { staged, installOnly };
}

function packageOne(target, out) {
  const stage = path.join(root, '.cache', 'package', target);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });

  for (const f of ['README.md', '.vscodeignore']) fs.copyFileSync(path.join(root, f), path.join(stage, f));
  for (const d of ['dist', 'templates', 'media']) copyTree(path.join(root, d), path.join(stage, d), () => false);

  const entries = runtimeImports(path.join(root, 'dist'));
  const { staged, installOnly } = stageNodeModules(stage, entries, target);

  // The manifest as published, its dependencies being what node_modules holds
  // (vsce asks npm which packages to include; the bundled ones are not there).
  const manifest = readJson(path.join(root, 'package.json'));
  const shipped = {};
  for (const e of entries) {
    const dir = resolvePackageDir(e, root);
    if (dir && !LEFT_OUT_PACKAGES.has(e)) shipped[e] = readJson(path.join(dir, 'package.json')).version;
  }
  manifest.dependencies = shipped;
  delete manifest.devDependencies;
  delete manifest.scripts;
  delete manifest.allowScripts;
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  // Left out of the package though staged (npm's view of the tree must stay whole for vsce).
  fs.appendFileSync(path.join(stage, '.vscodeignore'), `\n# Only install scripts need these (scripts/package.mjs):\n${installOnly.map((r) => `${r.split(path.sep).join('/')}/**`).join('\n')}\n`);

  fs.mkdirSync(path.dirname(out), { recursive: true });
  const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
  execFileSync(process.execPath, [vsce, 'package', '--target', target, '--no-yarn', '--allow-missing-repository', '--no-rewrite-relative-links', '--skip-license', '-o', out], { cwd: stage, stdio: ['ignore', 'inherit', 'inherit'] });
  const size = fs.statSync(out).size;
  const shippedNames = [...staged].filter(([rel]) => !installOnly.includes(rel)).map(([, n]) => n);
  console.log(`${path.relative(process.cwd(), out) || out}: ${target}, ${(size / 1024 / 1024).toFixed(1)} MiB; node_modules: ${[...new Set(shippedNames)].sort().join(', ')}`);
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { list, outFor, build } = parseArgs(process.argv.slice(2));
    if (build) execFileSync(process.execPath, [path.join(root, 'esbuild.mjs'), '--production'], { cwd: root, stdio: 'inherit' });
    for (const t of list) packageOne(t, outFor(t));
  } catch (err) {
    console.error(`package: ${err.message}`);
    process.exit(1);
  }
}
