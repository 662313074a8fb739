// Checks the platform packages that scripts/package.mjs built (npm run
// package:all first): `npm run test:package [-- FILE.vsix...]`, by default
// every slurm-ml-<target>.vsix in the repository. For each package:
//   - its target is the one its manifest declares (TargetPlatform);
//   - every native file in it (by content: ELF, Mach-O, PE, whatever its
//     name) is for that target, as `file` reads it;
//   - it carries the natives the daemon loads there: the @libsql binary and
//     onnxruntime-node's binding for the target;
//   - every package the bundles load at run time is in its node_modules, and
//     none of the packages esbuild bundled into dist/ is there as well;
//   - linux-x64: the highest GLIBC_ version any .node/.so needs (objdump -T)
//     is at most 2.28 (RHEL/Rocky 8 login nodes).
// Prints each package's size and glibc floor. Exits 1 when a check fails.
// Installs `file`, objdump (binutils) and unzip with apt-get when absent (CI
// starts on a fresh machine).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const GLIBC_FLOOR = '2.28';

/** What `file -b` says of a native file built for each target. */
const EXPECTED: Record<string, { re: RegExp; what: string; os: string; arch: string; libsql: string }> = {
  'linux-x64': { re: /^ELF 64-bit LSB .*x86-64/, what: 'ELF x86-64', os: 'linux', arch: 'x64', libsql: 'linux-x64-gnu' },
  'linux-arm64': { re: /^ELF 64-bit LSB .*(ARM aarch64|aarch64)/, what: 'ELF aarch64', os: 'linux', arch: 'arm64', libsql: 'linux-arm64-gnu' },
  'darwin-arm64': { re: /^Mach-O 64-bit .*arm64/, what: 'Mach-O arm64', os: 'darwin', arch: 'arm64', libsql: 'darwin-arm64' },
  'darwin-x64': { re: /^Mach-O 64-bit .*x86_64/, what: 'Mach-O x86_64', os: 'darwin', arch: 'x64', libsql: 'darwin-x64' },
  'win32-x64': { re: /^PE32\+ executable .*x86-64/, what: 'PE32+ x86-64', os: 'win32', arch: 'x64', libsql: 'win32-x64-msvc' },
  'win32-arm64': { re: /^PE32\+ executable .*Aarch64/i, what: 'PE32+ Aarch64', os: 'win32', arch: 'arm64', libsql: 'win32-arm64-msvc' },
};
/**
 * Native files that are not of the target's own architecture but run there:
 * ssh2's Pageant helper is a 32-bit Windows program (x64 and arm64 Windows run it).
 */
const ALSO_RUNS: Record<string, { file: RegExp; re: RegExp }[]> = {
  'win32-x64': [{ file: /^node_modules\/ssh2\/util\/pagent\.exe$/, re: /^PE32 executable .*Intel 80386/ }],
  'win32-arm64': [{ file: /^node_modules\/ssh2\/util\/pagent\.exe$/, re: /^PE32 executable .*Intel 80386/ }],
};
/** Any object code, whatever the platform. */
const BINARY = /^(ELF |Mach-O |PE32|COFF|current ar archive)/;
const NATIVE_NAME = /\.(node|dylib|dll)$|\.so(\.\d+)*$/;

function ensureTools(): void {
  const need: Record<string, string> = { file: 'file', objdump: 'binutils', unzip: 'unzip' };
  const absent = () =>
    Object.keys(need).filter((t) => {
      try {
        execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
        return false;
      } catch {
        return true;
      }
    });
  const missing = absent();
  if (missing.length === 0) return;
  console.log(`installing ${missing.map((t) => need[t]).join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-qq', ...new Set(missing.map((t) => need[t]!))], { stdio: 'inherit', env });
  const still = absent();
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** `file -b` of many files at once: path -> description. */
function describe(files: string[]): Map<string, string> {
  const result = new Map<string, string>();
  for (let i = 0; i < files.length; i += 200) {
    const chunk = files.slice(i, i + 200);
    const out = execFileSync('file', ['--no-pad', '--separator', '\t', ...chunk], { encoding: 'utf8', maxBuffer: 64 << 20 });
    for (const line of out.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) result.set(line.slice(0, tab), line.slice(tab + 1).trim());
    }
  }
  return result;
}

/** The newest GLIBC_x.y symbol version the file needs, or null for none. */
export function glibcFloor(file: string): string | null {
  const out = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let best: number[] | null = null;
  for (const m of out.matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)) {
    const v = m[1]!.split('.').map(Number);
    if (!best || compareVersions(v, best) > 0) best = v;
  }
  return best ? best.join('.') : null;
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Package names under any node_modules in a tree of files (relative paths). */
function packagesIn(files: string[]): Map<string, string[]> {
  const pkgs = new Map<string, string[]>();
  for (const f of files) {
    const parts = f.split('/');
    for (let i = 0; i < parts.length - 1; i++) {
      if (parts[i] !== 'node_modules') continue;
      const name = parts[i + 1]!.startsWith('@') ? `${parts[i + 1]}/${parts[i + 2]}` : parts[i + 1]!;
      const where = parts.slice(0, i + 1 + name.split('/').length).join('/');
      const list = pkgs.get(name) ?? [];
      if (!list.includes(where)) list.push(where);
      pkgs.set(name, list);
    }
  }
  return pkgs;
}

/** The npm packages esbuild puts inside dist/*.js (the bundles' inputs from node_modules). */
async function bundledPackages(): Promise<Set<string>> {
  const { bundles, options } = (await import(path.join(root, 'esbuild.mjs'))) as {
    bundles: { name: string; entry: string; outfile: string; platform: 'node' | 'browser'; external?: string[] }[];
    options: (b: unknown) => esbuild.BuildOptions;
  };
  const names = new Set<string>();
  for (const b of bundles) {
    const r = await esbuild.build({ ...options(b), absWorkingDir: root, write: false, metafile: true, logLevel: 'silent' });
    for (const input of Object.keys(r.metafile!.inputs)) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (m) names.add(m[1]!);
    }
  }
  return names;
}

/** Bare module names a bundle loads at run time. */
function runtimeImports(distFiles: string[]): Set<string> {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const names = new Set<string>();
  for (const f of distFiles) {
    if (!f.endsWith('.js')) continue;
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/\b(?:require|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
      const spec = m[1]!;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!builtins.has(name) && !builtins.has(spec) && name !== 'vscode') names.add(name);
    }
  }
  return names;
}

/** Loaded inside try/catch by their users and meant to be absent: ws's speed-ups, ssh2's native CPU probe. */
const OPTIONAL_AT_RUNTIME = new Set(['bufferutil', 'utf-8-validate', 'cpu-features']);

interface Report {
  file: string;
  target: string;
  bytes: number;
  natives: number;
  glibc: string | null;
  failures: string[];
}

function checkPackage(vsix: string, bundled: Set<string>): Report {
  const failures: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-vsix-'));
  try {
    execFileSync('unzip', ['-q', vsix, '-d', dir]);
    const manifest = fs.readFileSync(path.join(dir, 'extension.vsixmanifest'), 'utf8');
    const target = /TargetPlatform="([^"]+)"/.exec(manifest)?.[1] ?? '';
    const expected = EXPECTED[target];
    const report: Report = { file: vsix, target: target || '(universal)', bytes: fs.statSync(vsix).size, natives: 0, glibc: null, failures };
    if (!expected) {
      failures.push(`no known TargetPlatform in its manifest (${target || 'none'}): a package must be for one platform`);
      return report;
    }
    const ext = path.join(dir, 'extension');
    const files = walk(ext);
    const rel = (f: string) => path.relative(ext, f).split(path.sep).join('/');

    // Native code: judged by content, so a binary with an unusual name counts too.
    const kinds = describe(files);
    const natives = files.filter((f) => NATIVE_NAME.test(f) || BINARY.test(kinds.get(f) ?? ''));
    report.natives = natives.length;
    for (const f of natives) {
      const kind = kinds.get(f) ?? '?';
      if (expected.re.test(kind)) continue;
      if ((ALSO_RUNS[target] ?? []).some((a) => a.file.test(rel(f)) && a.re.test(kind))) continue;
      failures.push(`${rel(f)} is not ${expected.what}: ${kind}`);
    }
    const mustHave = [
      `node_modules/@libsql/${expected.libsql}/index.node`,
      `node_modules/onnxruntime-node/bin/napi-v6/${expected.os}/${expected.arch}/onnxruntime_binding.node`,
    ];
    const relFiles = new Set(files.map(rel));
    for (const m of mustHave) if (!relFiles.has(m)) failures.push(`missing ${m}: the daemon loads it on ${target}`);

    // Each package once: loaded from node_modules, or bundled into dist/, never both.
    const shipped = packagesIn([...relFiles]);
    for (const name of bundled) {
      if (shipped.has(name)) failures.push(`${name} is bundled into dist/ and also shipped at ${shipped.get(name)!.join(', ')}`);
    }
    for (const [name, where] of shipped) {
      if (where.length > 1) failures.push(`${name} is shipped ${where.length} times: ${where.join(', ')}`);
    }
    const distFiles = files.filter((f) => rel(f).startsWith('dist/'));
    for (const name of runtimeImports(distFiles)) {
      if (!shipped.has(name) && !OPTIONAL_AT_RUNTIME.has(name)) failures.push(`dist/ loads ${name} at run time but node_modules has no ${name}`);
    }

    // The oldest glibc the Linux natives load on.
    if (expected.os === 'linux') {
      let floor: number[] | null = null;
      for (const f of natives.filter((x) => /\.node$|\.so(\.\d+)*$/.test(x))) {
        let v: string | null;
        try {
          v = glibcFloor(f);
        } catch (err) {
          if (target === 'linux-x64') failures.push(`objdump -T ${rel(f)}: ${(err as Error).message.split('\n')[0]}`);
          continue;
        }
        if (v && (!floor || compareVersions(v.split('.').map(Number), floor) > 0)) floor = v.split('.').map(Number);
        if (target === 'linux-x64' && v && compareVersions(v.split('.').map(Number), GLIBC_FLOOR.split('.').map(Number)) > 0) {
          failures.push(`${rel(f)} needs GLIBC_${v}, newer than ${GLIBC_FLOOR} (RHEL/Rocky 8)`);
        }
      }
      report.glibc = floor ? floor.join('.') : null;
    }
    return report;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  ensureTools();
  let files = process.argv.slice(2);
  if (files.length === 0) {
    files = fs
      .readdirSync(root)
      .filter((f) => /^slurm-ml-.+\.vsix$/.test(f))
      .map((f) => path.join(root, f));
  }
  if (files.length === 0) {
    console.error('no slurm-ml-<target>.vsix here: npm run package:all first');
    return 1;
  }
  const bundled = await bundledPackages();
  let failed = 0;
  console.log(`bundled into dist/ (must not be in node_modules): ${[...bundled].sort().join(', ')}`);
  for (const f of files.sort()) {
    const r = checkPackage(f, bundled);
    const glibc = r.glibc ? `, GLIBC floor ${r.glibc}` : '';
    console.log(`${r.failures.length === 0 ? 'ok  ' : 'FAIL'} ${path.basename(r.file)}: ${r.target}, ${(r.bytes / 1024 / 1024).toFixed(1)} MiB, ${r.natives} native files${glibc}`);
    for (const x of r.failures) console.log(`       ${x}`);
    if (r.failures.length > 0) failed++;
  }
  console.log(failed === 0 ? `${files.length} packages checked` : `${failed} of ${files.length} packages failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error((err as Error).stack ?? err);
    process.exit(1);
  },
);
