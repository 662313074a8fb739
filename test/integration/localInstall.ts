// An installed copy of the built CLI and daemon that another user can run:
// the tests of local clusters run slurm-ml as the cluster's own user
// (hpcuser), who cannot read a checkout in root's private directories. The
// copy holds what an install has: the Node binary running this test, dist/,
// bin/, package.json and the production dependencies (npm ls --omit=dev),
// hard-linked where the filesystem allows.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './cliHarness';

function link(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  try {
    execFileSync('cp', ['-al', from, to]);
  } catch {
    execFileSync('cp', ['-a', from, to]);
  }
}

/** Stages the install in a new world-readable directory; returns it (remove it when done). */
export function stageInstall(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-install-'));
  fs.chmodSync(dir, 0o755);
  fs.copyFileSync(process.execPath, path.join(dir, 'node'));
  fs.chmodSync(path.join(dir, 'node'), 0o755);
  for (const f of ['dist', 'bin', 'package.json', 'templates']) link(path.join(repoRoot, f), path.join(dir, f));
  const deps = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(path.join(repoRoot, 'node_modules') + path.sep));
  // Outermost first: a nested package is inside a copied one already.
  const top = deps.sort().filter((d, i, all) => !all.slice(0, i).some((p) => d.startsWith(p + path.sep)));
  for (const d of top) link(d, path.join(dir, path.relative(repoRoot, d)));
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}
