// Drives the built `slurm-ml` CLI (bin/slurm-ml, from `npm run build`) the
// way the CLI integration tests do: each test file gets a temporary work
// directory with its own state directory (so its own daemon), registers the
// local test cluster (test/cluster/up.sh) as `local`, and stops that daemon
// and removes the directory at the end.
//
//   const h = new CliHarness({ prefix: 'slurm-ml-cli-' });
//   before(async () => { env = loadClusterEnv(); await h.open(); await h.addLocalCluster(env); });
//   after(() => h.close());
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { ClusterEnv } from './clusterEnv';
import type { JobDetail } from '../../daemon/protocol';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const cliPath = path.join(repoRoot, 'bin', 'slurm-ml');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliHarnessOptions {
  /** mkdtemp prefix of the work directory, in the OS temp directory. */
  prefix: string;
  /** Run the CLI in the work directory (`--workspace` defaults to the current directory). */
  cwdIsWork?: boolean;
  /** Extra environment for the CLI, over process.env and the state directory. */
  env?: NodeJS.ProcessEnv;
  /** execFile's maxBuffer for stdout and stderr; Node's default (1 MiB) when unset. */
  maxBuffer?: number;
  /** Default time limit of `run`; 180 s when unset. */
  timeoutMs?: number;
  /** Default time limit of `until`; 120 s when unset. */
  untilTimeoutMs?: number;
  /**
   * Run the CLI as this user (the harness runs as root), from an installed
   * copy (stageInstall in localInstall.ts), with a clean environment: HOME,
   * a PATH of the system's directories, the state directory. The work
   * directory is given to the user.
   */
  asUser?: { user: string; home: string; install: string };
  /** The state directory, instead of `<work>/state` (e.g. on another filesystem). */
  stateDir?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CliHarness {
  private dir: string | undefined;

  constructor(private readonly opts: CliHarnessOptions) {}

  /** Creates the work directory (the state directory is `<work>/state`). */
  open(): void {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), this.opts.prefix));
    if (this.opts.asUser) execFileSync('chown', [this.opts.asUser.user, this.dir]);
  }

  get isOpen(): boolean {
    return this.dir !== undefined;
  }

  get work(): string {
    if (this.dir === undefined) throw new Error('CliHarness: open() first');
    return this.dir;
  }

  get stateDir(): string {
    return this.opts.stateDir ?? path.join(this.work, 'state');
  }

  /** The CLI's environment: its own state directory, polling every second. */
  env(): NodeJS.ProcessEnv {
    const own = { ...this.opts.env, SLURM_ML_STATE_DIR: this.stateDir, SLURM_ML_POLL_INTERVAL_MS: '1000' };
    if (!this.opts.asUser) return { ...process.env, ...own };
    const u = this.opts.asUser;
    return { HOME: u.home, USER: u.user, LOGNAME: u.user, PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', TMPDIR: '/tmp', ...own };
  }

  /** The program and arguments that run the CLI with `args`. */
  private command(args: string[]): [string, string[]] {
    const u = this.opts.asUser;
    if (!u) return [process.execPath, [cliPath, ...args]];
    const env = Object.entries(this.env()).map(([k, v]) => `${k}=${v ?? ''}`);
    return ['runuser', ['-u', u.user, '--', 'env', '-i', ...env, path.join(u.install, 'node'), path.join(u.install, 'bin', 'slurm-ml'), ...args]];
  }

  /** Runs the CLI to its end; a non-zero exit is `code` (1 when killed or timed out), never a rejection. */
  run(args: string[], timeoutMs = this.opts.timeoutMs ?? 180_000): Promise<CliResult> {
    return new Promise((resolve) => {
      const [file, argv] = this.command(args);
      execFile(
        file,
        argv,
        {
          env: this.opts.asUser ? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } : this.env(),
          timeout: timeoutMs,
          ...(this.opts.cwdIsWork ? { cwd: this.work } : {}),
          ...(this.opts.maxBuffer !== undefined ? { maxBuffer: this.opts.maxBuffer } : {}),
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Starts the CLI with stdout and stderr piped, for tests that watch or signal it. */
  spawn(args: string[]): ChildProcessByStdio<null, Readable, Readable> {
    const [file, argv] = this.command(args);
    return spawn(file, argv, {
      env: this.opts.asUser ? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } : this.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.opts.cwdIsWork ? { cwd: this.work } : {}),
    });
  }

  /** Runs the CLI with --json (the CLI's own option: before any `--`, after which options are sbatch's), checks its exit code and parses stdout. */
  async json<T>(args: string[], expectCode = 0): Promise<T> {
    const dd = args.indexOf('--');
    const r = await this.run(dd < 0 ? [...args, '--json'] : [...args.slice(0, dd), '--json', ...args.slice(dd)]);
    assert.equal(r.code, expectCode, `slurm-ml ${args.join(' ')} exited ${r.code}${expectCode ? ` (expected ${expectCode})` : ''}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Writes an executable-looking bash script into the work directory; returns its path. */
  script(name: string, body: string): string {
    const file = path.join(this.work, name);
    fs.writeFileSync(file, `#!/bin/bash\n${body}\n`);
    if (this.opts.asUser) execFileSync('chown', [this.opts.asUser.user, file]);
    return file;
  }

  /** `slurm-ml cluster add local` for the test cluster, optionally with another identity. */
  async addLocalCluster(env: ClusterEnv, identityFile = env.identityFile): Promise<void> {
    const added = await this.run([
      'cluster', 'add', 'local',
      '--host', env.host, '--port', String(env.port), '--user', env.user,
      '--identity', identityFile, '--known-hosts', env.knownHostsFile,
    ]);
    assert.equal(added.code, 0, added.stderr);
  }

  /** Calls `f` every `everyMs` until it returns something other than undefined; fails after `timeoutMs`. */
  async until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = this.opts.untilTimeoutMs ?? 120_000, everyMs = 500): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
      await sleep(everyMs);
    }
  }

  /** Reads `slurm-ml job <id>` every 0.5 s until `pred` holds. */
  async waitForJob(id: string, pred: (j: JobDetail) => boolean, what: string, timeoutMs = 120_000): Promise<JobDetail> {
    const deadline = Date.now() + timeoutMs;
    let last: JobDetail | undefined;
    while (Date.now() < deadline) {
      last = await this.json<JobDetail>(['job', id]);
      if (pred(last)) return last;
      await sleep(500);
    }
    assert.fail(`job ${id} never became ${what}; last state ${last?.state}: ${JSON.stringify(last)}`);
  }

  /** Removes the work directory (the daemon, if any, is left alone). */
  remove(): void {
    if (this.dir !== undefined) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** `slurm-ml daemon stop`, then removes the work directory; nothing if never opened. */
  async close(): Promise<void> {
    if (this.dir === undefined) return;
    await this.run(['daemon', 'stop']);
    this.remove();
  }
}
