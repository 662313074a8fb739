// Compiles the VS Code suite (test/vscode/suite) for an extension host: into
// the repository's git-ignored .cache so that it resolves mocha from the
// repository's node_modules. Every *.test.ts of the suite is built; index.ts
// decides which run. Shared by code-server (run.ts) and desktop VS Code
// (electron.ts), which run the same suite.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { repoRoot } from './codeServer';

/** Builds the suite; returns the path (without .js) to give as extensionTestsPath. */
export async function buildSuite(): Promise<string> {
  const suiteDir = path.join(repoRoot, 'test/vscode/suite');
  const suiteOut = path.join(repoRoot, '.cache', 'vscode-suite');
  fs.rmSync(suiteOut, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: fs.readdirSync(suiteDir).filter((f) => f === 'index.ts' || f.endsWith('.test.ts')).map((f) => path.join(suiteDir, f)),
    outdir: suiteOut,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: ['vscode', 'mocha', 'bufferutil', 'utf-8-validate'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return path.join(suiteOut, 'index');
}
