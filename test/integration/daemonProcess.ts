// Starts the real built daemon (dist/daemon.js) in a fresh state dir, the way
// the CLI does (stdout and stderr into <stateDir>/daemon.log), and guarantees
// that every daemon a test process started is killed when that process ends,
// even after a failed assertion.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readStateFile, type DaemonStateFile } from '../../daemon/state';

export const repoRoot = resolve(__dirname, '..', '..');
/** SLURM_ML_TEST_DAEMON: another build of the daemon (e.g. of a clean checkout while the working tree is mid-edit). */
export const daemonScript = process.env.SLURM_ML_TEST_DAEMON ?? join(repoRoot, 'dist', 'daemon.js');
export const cliScript = join(repoRoot, 'bin', 'slurm-ml');

export interface StartDaemonOptions {
  /** Defaults to a directory that does not exist yet, inside a fresh temp dir, so the daemon creates it. */
  stateDir?: string;
  /** Added to the environment (SLURM_ML_STATE_DIR is set from stateDir). */
  env?: NodeJS.ProcessEnv;
  args?: string[];
  /** How long to wait for the state file. */
  timeoutMs?: number;
}

export interface RunningDaemon {
  pid: number;
  port: number;
  token: string;
  stateDir: string;
  stateFile: string;
  logFile: string;
  state: DaemonStateFile;
  child: ChildProcess;
  /** SIGTERM, then wait; resolves with the exit code (null if a signal ended it). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL, no questions asked. */
  kill(): void;
}

// Children we spawned plus pids of daemons started on our behalf (by the CLI), all killed at exit.
const children = new Set<ChildProcess>();
const foreignPids = new Set<number>();

function killQuietly(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Kills every daemon this process started or adopted. Safe to call more than once. */
export function killAllDaemons(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) killQuietly(c.pid);
  children.clear();
  for (const pid of foreignPids) killQuietly(pid);
  foreignPids.clear();
}

/** A daemon we did not spawn ourselves (e.g. the CLI did), to be killed with the rest. */
export function adoptDaemonPid(pid: number): void {
  foreignPids.add(pid);
}

process.on('exit', killAllDaemons);

export function freshStateDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'slurm-ml-test-')), 'state');
}

/** Resolves with the exit code (or the signal name) once the child has exited. */
export function exited(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((res) => child.once('exit', (code, signal) => res(code ?? signal)));
}

/** Spawns dist/daemon.js without waiting for anything; the child is killed at exit like the rest. */
export function spawnDaemon(stateDir: string, opts: { env?: NodeJS.ProcessEnv; args?: string[] } = {}): { child: ChildProcess; logFile: string } {
  if (!existsSync(daemonScript)) throw new Error(`${daemonScript} is missing: run \`npm run build\` first`);
  const logFile = join(stateDir, 'daemon.log');
  // The log goes where the CLI puts it, so the dir must exist before the daemon makes it 0700.
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFd = openSync(logFile, 'a', 0o600);
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, SLURM_ML_STATE_DIR: stateDir };
  // Settings a developer's shell may carry must not leak into the test daemon.
  if (!opts.env?.SLURM_ML_PORT) delete env.SLURM_ML_PORT;
  if (!opts.env?.SLURM_ML_LOG_LEVEL) delete env.SLURM_ML_LOG_LEVEL;
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [daemonScript, ...(opts.args ?? [])], { stdio: ['ignore', logFd, logFd], env });
  } finally {
    closeSync(logFd);
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  return { child, logFile };
}

/** Starts a daemon and waits until its state file names it. */
export async function startDaemon(opts: StartDaemonOptions = {}): Promise<RunningDaemon> {
  const stateDir = resolve(opts.stateDir ?? freshStateDir());
  const stateFile = join(stateDir, 'daemon.json');
  const { child, logFile } = spawnDaemon(stateDir, opts);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the daemon');
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let state: DaemonStateFile | null = null;
  while (Date.now() < deadline) {
    state = readStateFile(stateFile);
    if (state?.pid === pid) break;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the daemon exited at start (${child.exitCode ?? child.signalCode}); see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (state?.pid !== pid) {
    killQuietly(pid);
    throw new Error(`the daemon did not write ${stateFile} within ${opts.timeoutMs ?? 10_000} ms; see ${logFile}`);
  }
  const s = state;
  return {
    pid,
    port: s.port,
    token: s.token,
    stateDir,
    stateFile,
    logFile,
    state: s,
    child,
    async stop(timeoutMs = 5000) {
      const done = exited(child);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
      const result = await Promise.race([done, timeout]);
      clearTimeout(timer);
      if (result === 'timeout') {
        killQuietly(pid);
        throw new Error(`the daemon (pid ${pid}) did not exit within ${timeoutMs} ms of SIGTERM`);
      }
      return typeof result === 'number' ? result : null;
    },
    kill() {
      killQuietly(pid);
    },
  };
}
