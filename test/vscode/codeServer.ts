// A real VS Code for tests: code-server 4.139.1 (test/vscode/install.sh),
// started by the absolute path of the Node it was installed with, with fresh, short
// directories (VS Code's IPC socket paths must stay under 107 characters), its
// own daemon state directory, no marketplace, in its own process group that
// is killed on every exit; and headless Chromium to be its workbench client.
// Used by the mocha suite runner (run.ts), the UI test (ui.ts) and the
// activation-time bench.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const repoRoot = path.resolve(__dirname, '../..');
export const cacheDir = process.env.SLURM_ML_CACHE ?? path.join(os.homedir(), '.cache', 'slurm-ml');
const codeServerDir = path.join(cacheDir, 'code-server');
/** code-server's own entry point (its package's bin). */
export const codeServerEntry = path.join(codeServerDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');

/**
 * The Node that runs code-server: the one install.sh installed it with (its
 * native modules are built for that Node), by absolute path, so code-server
 * needs no `node` on PATH; that is also the runtime the extension host, and so
 * the extension's daemon, runs on.
 */
export function codeServerNode(): string {
  try {
    const node = fs.readFileSync(path.join(codeServerDir, '.node'), 'utf8').trim();
    if (node && fs.existsSync(node)) return node;
  } catch {
    /* installed by an older install.sh */
  }
  return process.execPath;
}

export function freePort(): Promise<number> {
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

export interface CodeServerOptions {
  /** User settings.json entries (workspace trust and the start page are always off). */
  settings?: Record<string, unknown>;
  /** A .vsix installed into the fresh extensions directory before the server starts. */
  vsix?: string;
  /** Extra environment for code-server and so for the extension host and the daemon it starts. */
  env?: NodeJS.ProcessEnv;
  /** Called with the daemon state directory before the server starts (e.g. to plant a broken daemon). */
  prepareState?: (stateDir: string) => void | Promise<void>;
}

export interface CodeServer {
  url: string;
  authority: string;
  tmp: string;
  dirs: { data: string; ext: string; xdg: string; state: string };
  serverLog: string;
  /** Kills code-server's process group and the daemon the extension started; removes tmp unless kept. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

/** The pid in the daemon's lock or state file, if any. */
export function daemonPids(stateDir: string): number[] {
  const pids: number[] = [];
  for (const f of ['daemon.lock', 'daemon.json']) {
    try {
      const text = fs.readFileSync(path.join(stateDir, f), 'utf8');
      // daemon.json, and the lock (JSON with host and pid; a bare pid from older daemons).
      const pid = /^\s*\d+\s*$/.test(text) ? Number.parseInt(text, 10) : (JSON.parse(text) as { pid: number }).pid;
      if (pid > 0 && !pids.includes(pid)) pids.push(pid);
    } catch {
      /* none */
    }
  }
  return pids;
}

export async function startCodeServer(o: CodeServerOptions = {}): Promise<CodeServer> {
  const tmp = fs.mkdtempSync('/tmp/smv-');
  const dirs = { data: path.join(tmp, 'd'), ext: path.join(tmp, 'e'), xdg: path.join(tmp, 'x'), state: path.join(tmp, 's') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.data, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.data, 'User', 'settings.json'),
    // No chat or agent panel, and no secondary side bar (1.139 opens both; they add
    // noise and load, and narrow the editor until a walkthrough hides its media).
    JSON.stringify({ 'security.workspace.trust.enabled': false, 'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'chat.disableAIFeatures': true, 'workbench.secondarySideBar.defaultVisibility': 'hidden', ...o.settings }, null, 2),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EXTENSIONS_GALLERY: '{}',
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    XDG_CACHE_HOME: path.join(dirs.xdg, 'cache'),
    // The extension's daemon gets a state directory of its own.
    SLURM_ML_STATE_DIR: dirs.state,
    SLURM_ML_VSCODE_TMP: tmp,
    ...o.env,
  };
  const common = ['--user-data-dir', dirs.data, '--extensions-dir', dirs.ext];
  if (o.vsix) {
    const r = spawnSync(codeServerNode(), [codeServerEntry, ...common, '--install-extension', o.vsix], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot install ${o.vsix}: ${r.stderr || r.stdout}`);
  }
  await o.prepareState?.(dirs.state);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serverLog = path.join(tmp, 'code-server.log');
  const logFd = fs.openSync(serverLog, 'a');
  const child = spawn(codeServerNode(), [codeServerEntry, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', ...common], {
    detached: true, // its own process group, killed as a whole
    stdio: ['ignore', logFd, logFd],
    env,
  });
  fs.closeSync(logFd);
  const killAll = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    // The daemon the extension started is detached by design: stop it too.
    for (const pid of daemonPids(dirs.state)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  };
  process.on('exit', killAll);
  let stopped = false;
  const stop = async (s: { keep?: boolean } = {}) => {
    if (stopped) return;
    stopped = true;
    killAll();
    // A daemon spawned just before the end takes its lock a moment later: wait for it briefly.
    if (fs.existsSync(path.join(dirs.state, 'daemon.log'))) {
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline && !daemonPids(dirs.state).length) await new Promise((r) => setTimeout(r, 200));
      killAll();
    }
    process.removeListener('exit', killAll);
    if (!s.keep && !process.env.SLURM_ML_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  };
  try {
    await waitHealthy(url, child, 30_000);
  } catch (err) {
    await stop({ keep: true });
    throw err;
  }
  return { url, authority: `127.0.0.1:${port}`, tmp, dirs, serverLog, stop };
}

export function launchChromium(): Promise<Browser> {
  // playwright gives the browser a fresh profile of its own on every launch.
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ],
  });
}

/**
 * Makes the workbench honour the `payload` query parameter (extension
 * development and tests paths). VS Code 1.139's web workbench ignores it unless
 * its smoke-test driver is enabled, and code-server rejects the flag that would
 * enable it, so the setting is put into the page's configuration element
 * (`vscode-workbench-web-configuration`'s data-settings) before the workbench
 * reads it. Rewriting the response instead (page.route) breaks code-server's
 * websockets.
 */
export async function enableSmokeTestDriver(page: Page): Promise<void> {
  // A string, not a function: tsx would put helpers of its own (__name) into a
  // function's text, and they do not exist in the page.
  await page.addInitScript(`(() => {
    const patch = (el) => {
      const raw = el.getAttribute('data-settings');
      if (!raw) return false;
      const settings = JSON.parse(raw);
      if (settings.developmentOptions && settings.developmentOptions.enableSmokeTestDriver === true) return true;
      settings.developmentOptions = { ...settings.developmentOptions, enableSmokeTestDriver: true };
      el.setAttribute('data-settings', JSON.stringify(settings));
      return true;
    };
    const find = () => document.getElementById('vscode-workbench-web-configuration');
    const now = find();
    if (now && patch(now)) return;
    const observer = new MutationObserver(() => {
      const el = find();
      if (el && patch(el)) observer.disconnect();
    });
    observer.observe(document, { childList: true, subtree: true });
  })();`);
}

/** Names that would give a shell some Node.js. */
const NODE_NAMES = new Set(['node', 'nodejs', 'npm', 'npx', 'corepack']);

/**
 * A PATH with every command of `pathVar` except Node.js: one directory of
 * symlinks to them, so that `node` resolves nowhere while everything else a
 * user's machine has (sh, git, ssh…) still does. Returns the directory.
 */
export function pathWithoutNode(dir: string, pathVar = process.env.PATH ?? ''): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const d of pathVar.split(path.delimiter).filter(Boolean)) {
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (NODE_NAMES.has(name) || fs.existsSync(path.join(dir, name))) continue;
      const file = path.join(d, name);
      try {
        const st = fs.statSync(file);
        if (!st.isFile() || !(st.mode & 0o111)) continue;
        fs.symlinkSync(file, path.join(dir, name));
      } catch {
        /* dangling or unreadable: not a command */
      }
    }
  }
  return dir;
}
