// `slurm-ml logs ID [--stderr] [--follow] [--bytes N|all]`: a job's output,
// exactly as the job wrote it, on stdout and nothing else there (messages go
// to stderr), so it can be piped. With --follow it keeps printing until the
// job has ended and its log is read to the end; Ctrl-C unsubscribes first.
import { parseArgs } from 'node:util';
import { ErrorCode, LogsDidAppend, LogsTail, LogsUnsubscribe, type ParamsOf } from '../protocol';
import { RpcError, type RpcConnection } from '../rpc/connection';
import type { ConnectedDaemon } from '../client';

const DEFAULT_BYTES = 64 * 1024;

type Appended = ParamsOf<typeof LogsDidAppend>;

class LogsUsageError extends Error {}

export const LOGS_USAGE = 'logs ID [--stderr] [--follow] [--bytes N|all]  a job\'s output (last 64 KiB; --follow until the job ends)';

function parseLogsArgs(args: string[]): { ref: string; stream: 'stdout' | 'stderr'; follow: boolean; bytes: number | 'all' } {
  let r;
  try {
    r = parseArgs({
      args,
      options: { stderr: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' }, bytes: { type: 'string', short: 'c' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new LogsUsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (r.positionals.length === 0) throw new LogsUsageError('missing job ID');
  if (r.positionals.length > 1) throw new LogsUsageError(`unexpected argument "${r.positionals[1]}"`);
  let bytes: number | 'all' = DEFAULT_BYTES;
  if (r.values.bytes !== undefined) {
    if (r.values.bytes === 'all') bytes = 'all';
    else if (/^\d+$/.test(r.values.bytes) && Number.isSafeInteger(Number(r.values.bytes))) bytes = Number(r.values.bytes);
    else throw new LogsUsageError(`--bytes must be a whole number of bytes or "all", got "${r.values.bytes}"`);
  }
  return { ref: r.positionals[0]!, stream: r.values.stderr ? 'stderr' : 'stdout', follow: r.values.follow === true, bytes };
}

/** Resolves once the text is handed to stdout (waits for a full pipe to drain). */
function out(text: string): Promise<void> {
  if (text.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

export async function logsCommand(args: string[], connect: () => Promise<ConnectedDaemon>): Promise<number> {
  let opts: ReturnType<typeof parseLogsArgs>;
  try {
    opts = parseLogsArgs(args);
  } catch (err) {
    if (!(err instanceof LogsUsageError)) throw err;
    process.stderr.write(`slurm-ml: ${err.message}\n(run \`slurm-ml help\` for usage)\n`);
    return 2;
  }
  // The protocol has no "at the end": for 0 bytes, ask for the last one and print nothing of it.
  const offset = opts.bytes === 'all' ? 0 : -Math.max(1, opts.bytes);
  const printFirst = opts.bytes !== 0;
  const d = await connect();
  // `slurm-ml logs ID | head`: a closed pipe ends the command quietly.
  let pipeClosed: () => void = () => {};
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') pipeClosed();
    else throw err;
  };
  process.stdout.on('error', onStdoutError);
  try {
    if (!opts.follow) return await printOnce(d.rpc, opts, offset);
    return await follow(d.rpc, opts, offset, printFirst, (f) => (pipeClosed = f));
  } finally {
    process.stdout.off('error', onStdoutError);
    d.rpc.close();
  }
}

async function printOnce(rpc: RpcConnection, opts: ReturnType<typeof parseLogsArgs>, offset: number): Promise<number> {
  const limit = opts.bytes === 'all' ? Infinity : opts.bytes;
  let total = 0;
  let next = offset;
  // One answer carries at most 1 MiB: go on from nextOffset until nothing more comes.
  while (total < limit) {
    const r = await rpc.request(LogsTail, { ref: opts.ref, stream: opts.stream, offset: next, follow: false }, { timeoutMs: 120_000 });
    const consumed = r.nextOffset - r.offset;
    if (opts.bytes !== 0) await out(r.data);
    if (consumed <= 0) break;
    total += consumed;
    next = r.nextOffset;
  }
  return 0;
}

function follow(
  rpc: RpcConnection,
  opts: ReturnType<typeof parseLogsArgs>,
  offset: number,
  printFirst: boolean,
  onPipeClosed: (f: () => void) => void,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let subscriptionId: string | null = null;
    let finished = false;
    // Notifications that arrive before the answer naming their subscription.
    const early: Appended[] = [];
    let printedEnd = 0;
    let printing = Promise.resolve();
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      off();
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      void printing.then(() => resolve(code));
    };
    const unsubscribeAndFinish = (code: number) => {
      if (finished) return;
      const id = subscriptionId;
      if (id === null) return finish(code);
      rpc.request(LogsUnsubscribe, { subscriptionId: id }, { timeoutMs: 2000 }).then(
        () => finish(code),
        () => finish(code),
      );
    };
    const onSigint = () => unsubscribeAndFinish(130);
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    onPipeClosed(() => unsubscribeAndFinish(0));
    const handle = (n: Appended) => {
      if (finished) return;
      // The daemon reads a file that shrank again from byte 0.
      if (n.offset === 0 && printedEnd > 0 && n.data.length > 0) {
        process.stderr.write('slurm-ml: the log was truncated or replaced; printing it again from its start\n');
      }
      if (n.data.length > 0) printedEnd = n.offset + Buffer.byteLength(n.data);
      printing = printing.then(() => out(n.data));
      if (n.done) finish(0);
    };
    const off = rpc.onNotification(LogsDidAppend, (n) => {
      if (subscriptionId === null) early.push(n);
      else if (n.subscriptionId === subscriptionId) handle(n);
    });
    rpc.onClose((reason) => {
      if (!finished) {
        finished = true;
        off();
        reject(new RpcError(ErrorCode.ConnectionClosed, `lost the daemon while following the log: ${reason}`));
      }
    });
    rpc.request(LogsTail, { ref: opts.ref, stream: opts.stream, offset, follow: true }, { timeoutMs: 120_000 }).then(
      (r) => {
        if (printFirst && r.data.length > 0) {
          printedEnd = r.offset + Buffer.byteLength(r.data);
          printing = printing.then(() => out(r.data));
        } else {
          printedEnd = r.nextOffset;
        }
        if (r.subscriptionId === null) return finish(0);
        subscriptionId = r.subscriptionId;
        for (const n of early.splice(0)) if (n.subscriptionId === subscriptionId) handle(n);
      },
      (err: unknown) => {
        if (finished) return;
        finished = true;
        off();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        reject(err);
      },
    );
  });
}
