// A cluster whose SLURM commands are on this machine: the daemon runs where
// sbatch is (a login node under Remote-SSH, a compute node in Open OnDemand's
// code-server, a workstation that is a submit host). Commands run with
// execFile semantics (argv straight to the program: no shell, nothing to
// quote), as the daemon's own user; files that would be uploaded are written
// locally into the same run-directory layout (`~/.slurm-ml/runs/<uuid>/`).
// Everything above the session (parsers, poller, budget, logs, workflows) is
// the one the SSH kind uses.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { Logger } from '../log';

/** More output than this from one command is refused (sacct of 100,000 jobs is about 20 MB). */
export const MAX_LOCAL_OUTPUT_BYTES = 256 * 1024 * 1024;

/** What a command left: the shape of connections.ts's ExecResult (not imported: connections.ts imports this module). */
export interface LocalExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Structurally a RemoteSession of connections.ts. */
export class LocalSession {
  readonly hostKeyFingerprint = undefined;

  constructor(
    private readonly cluster: string,
    private readonly log: Logger,
    private readonly home: string = os.homedir(),
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** `~` and `~/…` are the daemon user's home, as they are the login's home over SSH. */
  resolve(p: string): string {
    if (p === '~') return this.home;
    if (p.startsWith('~/')) return path.join(this.home, p.slice(2));
    return p;
  }

  exec(argv: string[], opts: { cwd?: string; stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<LocalExecResult> {
    if (argv.length === 0) return Promise.reject(new TypeError('exec needs a command'));
    const [file, ...args] = argv as [string, ...string[]];
    const started = Date.now();
    return new Promise<LocalExecResult>((resolve, reject) => {
      let settled = false;
      const done = (err: Error | undefined, r?: LocalExecResult) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        const fields = { cluster: this.cluster, command: argv.join(' '), ms: Date.now() - started };
        if (err) {
          this.log.debug('local exec failed', { ...fields, error: err.message });
          reject(err);
        } else {
          this.log.debug('local exec', { ...fields, code: r!.code, signal: r!.signal });
          resolve(r!);
        }
      };
      const child = spawn(file, args, { cwd: opts.cwd === undefined ? undefined : this.resolve(opts.cwd), env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let bytes = 0;
      const take = (list: Buffer[]) => (b: Buffer) => {
        bytes += b.length;
        if (bytes > MAX_LOCAL_OUTPUT_BYTES) {
          child.kill('SIGKILL');
          done(new RpcError(ErrorCode.SlurmCommandFailed, `cluster ${this.cluster}: \`${argv.join(' ')}\` printed more than ${MAX_LOCAL_OUTPUT_BYTES >> 20} MiB; stopped`));
          return;
        }
        list.push(b);
      };
      child.stdout.on('data', take(out));
      child.stderr.on('data', take(err));
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              child.kill('SIGKILL');
              done(new RpcError(ErrorCode.SshTimeout, `Command on cluster "${this.cluster}" timed out after ${opts.timeoutMs} ms: ${argv.join(' ')}`));
            }, opts.timeoutMs);
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' && e.path === file) {
          // What a login shell answers for a missing program: SLURM's client is not installed (or not on PATH) here.
          done(undefined, { code: 127, signal: null, stdout: '', stderr: `${file}: command not found on this machine (PATH=${this.env.PATH ?? ''})\n` });
        } else if (e.code === 'ENOENT' && opts.cwd !== undefined) {
          done(undefined, { code: 1, signal: null, stdout: '', stderr: `cd: ${opts.cwd}: No such file or directory\n` });
        } else {
          done(new RpcError(ErrorCode.SlurmCommandFailed, `cluster ${this.cluster}: cannot run ${file}: ${e.message}`));
        }
      });
      child.on('close', (code, signal) => {
        done(undefined, { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      // Writing to a command that exited early fails; its outcome is still its exit.
      child.stdin.on('error', () => {});
      if (opts.stdin === undefined) child.stdin.end();
      else child.stdin.end(opts.stdin);
    });
  }

  async writeFile(remotePath: string, data: string | Buffer, mode?: number): Promise<void> {
    const p = this.resolve(remotePath);
    await this.fileOp('write', p, async () => {
      await fs.promises.writeFile(p, data, mode === undefined ? undefined : { mode });
      // The mode given to open applies only when the file is created.
      if (mode !== undefined) await fs.promises.chmod(p, mode);
    });
  }

  /** Creates missing directories private to the user (0700): run directories hold scripts, configs and outputs. */
  async mkdirp(remotePath: string): Promise<void> {
    const p = this.resolve(remotePath);
    await this.fileOp('mkdir', p, async () => {
      await fs.promises.mkdir(p, { recursive: true, mode: 0o700 });
    });
  }

  async homeDir(): Promise<string> {
    return this.home;
  }

  async readRange(remotePath: string, offset: number, length: number): Promise<Buffer> {
    const p = this.resolve(remotePath);
    return this.fileOp('read', p, async () => {
      const fh = await fs.promises.open(p, 'r');
      try {
        const buf = Buffer.alloc(Math.max(0, length));
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead <= 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    });
  }

  async stat(remotePath: string): Promise<{ size: number; mtime: number }> {
    const p = this.resolve(remotePath);
    return this.fileOp('stat', p, async () => {
      const st = await fs.promises.stat(p);
      return { size: st.size, mtime: Math.floor(st.mtimeMs / 1000) };
    });
  }

  /** File errors as the SSH kind reports them (RemoteFileFailed; "No such file" for a missing one). */
  private async fileOp<T>(what: string, p: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'No such file' : e.code === 'EACCES' || e.code === 'EPERM' ? 'Permission denied' : e.message;
      throw new RpcError(ErrorCode.RemoteFileFailed, `cluster ${this.cluster}: ${what} ${p}: ${why}`);
    }
  }
}
