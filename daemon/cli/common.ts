// What every CLI command shares: argument parsing, output, the connection to
// the daemon, waiting for a job to end.
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCode, JobsDidChange, JobsGet, type JobInfo } from '../protocol';
import { RpcError, type RpcConnection } from '../rpc/connection';
import { connectOrStartDaemon, type ConnectedDaemon } from '../client';
import { statePaths } from '../state';
import { DAEMON_VERSION } from '../version';
import { canPromptInTerminal, terminalPrompt } from './prompt';

/** Exit statuses, documented in the README. */
export const Exit = { Ok: 0, Error: 1, Usage: 2, JobUnsuccessful: 4 } as const;

export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(args: string[], options: O, positionals: number) {
  const config = { args, options: { json: { type: 'boolean' as const }, ...options }, allowPositionals: true as const, strict: true as const };
  let r: ReturnType<typeof parseArgs<typeof config>>;
  try {
    r = parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (r.positionals.length > positionals) throw new UsageError(`unexpected argument "${r.positionals[positionals]}"`);
  return r;
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`);
  return value;
}

export function print(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

export const cliPaths = () => statePaths(process.env);

/** `daemonArgs`: given to a daemon this starts (none when one runs already). */
export async function connect(daemonArgs: string[] = []): Promise<ConnectedDaemon> {
  return connectOrStartDaemon({
    daemonArgs,
    paths: cliPaths(),
    clientName: 'slurm-ml-cli',
    clientVersion: DAEMON_VERSION,
    daemonScript: path.join(__dirname, 'daemon.js'),
    requestTimeoutMs: 60_000,
    // Only with a person at a terminal: otherwise the daemon asks another client (or nobody).
    prompt: canPromptInTerminal() ? terminalPrompt : undefined,
  });
}

export async function withDaemon<T>(f: (rpc: RpcConnection) => Promise<T>): Promise<T> {
  const d = await connect();
  try {
    return await f(d.rpc);
  } finally {
    d.rpc.close();
  }
}

/** Waits until the job ended and its results were collected (finalized), reporting state changes on stderr. */
export async function waitForJob(rpc: RpcConnection, job: JobInfo, json: boolean | undefined): Promise<JobInfo> {
  let current = job;
  let lastState = '';
  const report = (j: JobInfo) => {
    if (!json && j.state !== lastState) {
      process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${j.slurmJobId ?? '-'} ${j.state}${j.reason && j.reason !== 'None' ? ` (${j.reason})` : ''}\n`);
      lastState = j.state;
    }
  };
  report(current);
  return new Promise<JobInfo>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (j: JobInfo) => {
      done = true;
      off();
      clearTimeout(timer);
      resolve(j);
    };
    const off = rpc.onNotification(JobsDidChange, ({ job: j }) => {
      if (j.id !== current.id) return;
      current = j;
      report(j);
      if (j.terminal && j.finalized) finish(j);
    });
    rpc.onClose((reason) => reject(new RpcError(ErrorCode.ConnectionClosed, `lost the daemon while waiting: ${reason}`)));
    // Notifications are the fast path; this catches anything missed.
    const check = async () => {
      if (done) return;
      try {
        const j = await rpc.request(JobsGet, { ref: current.id });
        current = j;
        report(j);
        if (j.terminal && j.finalized) return finish(j);
      } catch (err) {
        return reject(err);
      }
      if (!done) timer = setTimeout(check, 5000);
    };
    void check();
  });
}

/** Asks a yes/no question on the terminal; false when there is no terminal to ask on. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * A submit whose answer never came (the daemon died or the connection broke)
 * may still have reached SLURM: say what happens to it rather than only that
 * the connection closed.
 */
export function explainLostSubmit(err: unknown): never {
  if (err instanceof RpcError && err.code === ErrorCode.ConnectionClosed) {
    throw new Error(`${err.message}. If sbatch ran, the job is found and followed by the next daemon (see \`slurm-ml jobs\`); it is not submitted twice.`);
  }
  throw err;
}
