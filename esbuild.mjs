// Builds the three bundles from one options factory:
//   extension  (node, cjs, `vscode` external)            -> dist/extension.js
//   daemon+CLI (node, cjs, native modules external)      -> dist/daemon.js, dist/cli.js
//   webview    (browser, iife)                           -> dist/webview.js
// Flags: --watch, --production (minified, no source maps). Exports the options
// factory and the bundle list for tools that import it.
import * as esbuild from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

// Native addons cannot be bundled: they load .node files relative to their
// own package (libsql picks its @libsql/<platform> package at run time).
// ssh2 is kept whole because its optional native crypto binding (and
// cpu-features) is required from inside the package by relative path.
const nativeModules = ['libsql', 'onnxruntime-node', 'ssh2', 'cpu-features'];

/** @param {{ name: string, entry: string, outfile: string, platform: 'node' | 'browser', external?: string[] }} b */
export function options(b) {
  return {
    entryPoints: [b.entry],
    outfile: b.outfile,
    bundle: true,
    platform: b.platform,
    format: b.platform === 'node' ? 'cjs' : 'iife',
    target: b.platform === 'node' ? 'node20' : 'es2022',
    external: b.external ?? [],
    minify: production,
    sourcemap: production ? false : 'linked',
    logLevel: 'warning',
    define: { __SLURM_ML_VERSION__: JSON.stringify(pkg.version) },
  };
}

export const bundles = [
  { name: 'extension', entry: 'extension/main.ts', outfile: 'dist/extension.js', platform: 'node', external: ['vscode', 'bufferutil', 'utf-8-validate'] },
  { name: 'daemon', entry: 'daemon/main.ts', outfile: 'dist/daemon.js', platform: 'node', external: [...nativeModules, 'bufferutil', 'utf-8-validate'] },
  { name: 'cli', entry: 'daemon/cli/main.ts', outfile: 'dist/cli.js', platform: 'node', external: [...nativeModules, 'bufferutil', 'utf-8-validate'] },
  // Trains runtime models off the daemon's (and the CLI's) event loop.
  { name: 'gbdtWorker', entry: 'daemon/runtime/gbdtWorker.ts', outfile: 'dist/gbdtWorker.js', platform: 'node', external: [...nativeModules] },
  { name: 'webview', entry: 'webview/main.ts', outfile: 'dist/webview.js', platform: 'browser' },
];

// Imported (test/package/check.ts asks which packages the bundles hold): build nothing.
const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];

if (!isMain) {
  // nothing to do
} else if (watch) {
  for (const b of bundles) {
    const ctx = await esbuild.context(options(b));
    await ctx.watch();
  }
  console.log(`watching ${bundles.map((b) => b.name).join(', ')}`);
} else {
  const started = Date.now();
  await Promise.all(bundles.map((b) => esbuild.build(options(b))));
  console.log(`built ${bundles.map((b) => b.outfile).join(', ')} in ${Date.now() - started} ms${production ? ' (production)' : ''}`);
}
