// npm run test:electron: the VS Code suite (test/vscode/suite, the same one
// test:vscode runs in code-server) in desktop VS Code, through
// @vscode/test-electron: it downloads VS Code (the version below) into
// .vscode-test/ and runs the suite in its extension host, with the extension
// loaded from this checkout in development mode.
//
// On a machine that cannot download VS Code (no route to
// update.code.visualstudio.com, as on this project's CI) it stops at once with
// a message and status 2: code-server (npm run test:vscode) is the gate there.
// SLURM_ML_VSCODE_EXECUTABLE=/path/to/code runs an installed VS Code instead
// of downloading one. On Linux desktop VS Code needs a display: without one,
// run it under `xvfb-run -a`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';
import { daemonPids, repoRoot } from './codeServer';
import { buildSuite } from './suiteBuild';

/** The VS Code the suite runs in: the one code-server 4.139.1 is built from (engines.vscode). */
const version = process.env.SLURM_ML_VSCODE_VERSION ?? '1.139.1';
const timeoutMs = Number(process.env.SLURM_ML_VSCODE_TIMEOUT_MS ?? 600_000);
const gate = 'code-server is the gate for the editor tests here: npm run test:vscode (and test:ui, test:webview).';

function stop(message: string): never {
  process.stderr.write(`test:electron: ${message}\n`);
  process.exit(2);
}

async function executable(): Promise<string> {
  const given = process.env.SLURM_ML_VSCODE_EXECUTABLE;
  if (given) {
    if (!fs.existsSync(given)) stop(`SLURM_ML_VSCODE_EXECUTABLE=${given} does not exist.`);
    return given;
  }
  try {
    // timeout: how long the download may make no progress (test-electron's idle timeout).
    return await downloadAndUnzipVSCode({ version, timeout: 15_000, cachePath: path.join(repoRoot, '.vscode-test') });
  } catch (err) {
    const why = (err as Error)?.message ?? String(err);
    stop(`cannot download VS Code ${version} for desktop tests (${why.split('\n')[0]}). This machine cannot run desktop VS Code; ${gate}`);
  }
}

async function main(): Promise<number> {
  const vscodeExecutablePath = await executable();
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    stop(`no display for desktop VS Code: run it as \`xvfb-run -a npm run test:electron\` (Debian package xvfb). ${gate}`);
  }
  // Built only now: where VS Code cannot be had, the run stops before any work.
  const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) return 1;
  const extensionTestsPath = await buildSuite();
  // Short paths: VS Code's IPC socket paths must stay under 107 characters.
  const tmp = fs.mkdtempSync('/tmp/sme-');
  const dirs = { data: path.join(tmp, 'd'), ext: path.join(tmp, 'e'), state: path.join(tmp, 's') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.data, 'User'));
  fs.writeFileSync(path.join(dirs.data, 'User', 'settings.json'), JSON.stringify({ 'security.workspace.trust.enabled': false, 'workbench.startupEditor': 'none' }));
  const env: Record<string, string | undefined> = { ...process.env, SLURM_ML_STATE_DIR: dirs.state, SLURM_ML_VSCODE_TMP: tmp };
  // Set by the slurm-ml launcher; VS Code itself must start as Electron, not as Node.
  delete env.ELECTRON_RUN_AS_NODE;
  delete process.env.ELECTRON_RUN_AS_NODE;
  let status = 1;
  try {
    const run = runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath,
      extensionTestsEnv: env,
      launchArgs: [path.join(repoRoot, 'test', 'demo'), '--user-data-dir', dirs.data, '--extensions-dir', dirs.ext, '--disable-extensions', '--disable-gpu'],
    }).then(
      (code) => code,
      (err: unknown) => {
        process.stderr.write(`${(err as Error)?.message ?? err}\n`);
        return 1;
      },
    );
    const timer = new Promise<number>((r) => setTimeout(() => r(-1), timeoutMs).unref());
    const code = await Promise.race([run, timer]);
    if (code === -1) process.stderr.write(`test:electron: the suite did not finish within ${timeoutMs / 1000} s\n`);
    status = code === 0 ? 0 : 1;
    console.log(`electron suite ${status === 0 ? 'passed' : 'FAILED'} (VS Code ${version})`);
    return status;
  } finally {
    // The daemon the extension started outlives the window by design: stop it.
    for (const pid of daemonPids(dirs.state)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    if (status === 0) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
