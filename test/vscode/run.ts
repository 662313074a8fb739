// Starts code-server with fresh directories, opens its workbench in headless
// Chromium with the payload that makes it load this extension in development
// mode and run the mocha suite in the extension host (VS Code's own browser
// integration tests use the same mechanism), and exits with the suite's
// status. code-server runs in its own process group, killed on every exit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const root = path.resolve(__dirname, '../..');
const cache = process.env.SLURM_ML_CACHE ?? path.join(os.homedir(), '.cache', 'slurm-ml');
const codeServer = path.join(cache, 'code-server', 'node_modules', '.bin', 'code-server');
const timeoutMs = Number(process.env.SLURM_ML_VSCODE_TIMEOUT_MS ?? 300_000);
// --vsix FILE: test the packaged extension (unpacked) instead of the working tree.
const vsixArg = process.argv.indexOf('--vsix');
const vsix = vsixArg >= 0 ? path.resolve(process.argv[vsixArg + 1] ?? '') : undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitHealthy(url: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with status ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${ms / 1000} s`);
}

async function main(): Promise<number> {
  const started = Date.now();
  // The suite is compiled into the repository's git-ignored .cache so that it
  // resolves mocha from the repository's node_modules.
  const suiteOut = path.join(root, '.cache', 'vscode-suite');
  fs.rmSync(suiteOut, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [path.join(root, 'test/vscode/suite/index.ts'), path.join(root, 'test/vscode/suite/extension.test.ts'), path.join(root, 'test/vscode/suite/dashboard.test.ts')],
    outdir: suiteOut,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'mocha', 'bufferutil', 'utf-8-validate'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });

  // Short paths: VS Code's IPC socket paths must stay under 107 characters.
  const tmp = fs.mkdtempSync('/tmp/smv-');
  const dirs = { data: path.join(tmp, 'd'), ext: path.join(tmp, 'e'), xdg: path.join(tmp, 'x'), state: path.join(tmp, 's') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  // No workspace trust prompt: the test folder is the repository's own.
  fs.mkdirSync(path.join(dirs.data, 'User'), { recursive: true });
  fs.writeFileSync(path.join(dirs.data, 'User', 'settings.json'), JSON.stringify({ 'security.workspace.trust.enabled': false, 'workbench.startupEditor': 'none' }));
  let extensionPath = root;
  if (vsix) {
    // A .vsix is a zip whose extension/ folder is the installed extension.
    const out = path.join(tmp, 'v');
    const r = spawnSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', vsix, out], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`cannot unpack ${vsix}`);
    extensionPath = path.join(out, 'extension');
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serverLog = path.join(tmp, 'code-server.log');
  const logFd = fs.openSync(serverLog, 'a');
  const child = spawn(
    codeServer,
    ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--user-data-dir', dirs.data, '--extensions-dir', dirs.ext],
    {
      detached: true, // its own process group, killed as a whole below
      stdio: ['ignore', logFd, logFd],
      env: {
        ...process.env,
        EXTENSIONS_GALLERY: '{}',
        XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
        XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
        XDG_CACHE_HOME: path.join(dirs.xdg, 'cache'),
        // The extension's daemon gets a state directory of its own.
        SLURM_ML_STATE_DIR: dirs.state,
        SLURM_ML_VSCODE_TMP: tmp,
      },
    },
  );
  fs.closeSync(logFd);
  // The daemon writes its pid into its lock file first, then its state file.
  const killDaemon = () => {
    let killed = false;
    for (const f of ['daemon.lock', 'daemon.json']) {
      try {
        const text = fs.readFileSync(path.join(dirs.state, f), 'utf8');
        const pid = f === 'daemon.json' ? (JSON.parse(text) as { pid: number }).pid : Number.parseInt(text, 10);
        if (pid > 0) process.kill(pid, 'SIGTERM');
        killed = true;
      } catch {
        /* none, or gone */
      }
    }
    return killed;
  };
  const killAll = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    // The daemon the extension started is detached by design: stop it too.
    killDaemon();
  };
  /** A daemon spawned just before the end takes its lock a moment later: wait for it briefly. */
  const stopLateDaemon = async () => {
    if (!fs.existsSync(path.join(dirs.state, 'daemon.log'))) return;
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      if (killDaemon()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

  let status = 1;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    await waitHealthy(url, child, 30_000);
    // playwright gives the browser a fresh profile of its own on every launch.
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
      ],
    });
    const page = await browser.newPage();
    let resolveExit: (code: number) => void = () => {};
    const exited = new Promise<number>((r) => (resolveExit = r));
    await page.exposeFunction('codeAutomationExit', (code: number) => resolveExit(code));
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      // Arguments as console.log got them: a format string first (mocha's reporter uses %s, %d).
      const text = format(...(Array.isArray(args) ? args : [args]));
      if (type === 'error') process.stderr.write(`${text}\n`);
      else process.stdout.write(`${text}\n`);
    });
    const authority = `127.0.0.1:${port}`;
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://${authority}${extensionPath}`],
      ['extensionTestsPath', `vscode-remote://${authority}${path.join(suiteOut, 'index')}`],
    ];
    const folder = path.join(root, 'test', 'demo');
    await page.goto(`${url}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const timer = new Promise<number>((r) => setTimeout(() => r(-1), timeoutMs));
    const code = await Promise.race([exited, timer]);
    if (code === -1) {
      console.error(`the suite did not finish within ${timeoutMs / 1000} s; code-server log: ${serverLog}`);
      await page.screenshot({ path: path.join(tmp, 'timeout.png') }).catch(() => undefined);
      return 1;
    }
    console.log(`vscode suite ${code === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    status = code;
    return code;
  } finally {
    await browser?.close().catch(() => undefined);
    killAll();
    await stopLateDaemon();
    if (status === 0 && !process.env.SLURM_ML_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp} (code-server log: ${serverLog})`);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
