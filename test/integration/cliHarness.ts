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
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
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
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CliHarness {
  private dir: string | undefined;

  constructor(private readonly opts: CliHarnessOptions) {}

  /** Creates the work directory (the state directory is `<work>/state`). */
  open(): void {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), this.opts.prefix));
  }

  get isOpen(): boolean {
    return this.dir !== undefined;
  }

  get work(): string {
    if (this.dir === undefined) throw new Error('CliHarness: open() first');
    return this.dir;
  }

  get stateDir(): string {
    return path.join(this.work, 'state');
  }

  /** The CLI's environment: its own state directory, polling every second. */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.opts.env, SLURM_ML_STATE_DIR: this.stateDir, SLURM_ML_POLL_INTERVAL_MS: '1000' };
  }

  /** Runs the CLI to its end; a non-zero exit is `code` (1 when killed or timed out), never a rejection. */
  run(args: string[], timeoutMs = this.opts.timeoutMs ?? 180_000): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [cliPath, ...args],
        {
          env: this.env(),
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
    return spawn(process.execPath, [cliPath, ...args], {
      env: this.env(),
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
