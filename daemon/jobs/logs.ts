// Reading and following a job's stdout/stderr on the cluster, over the
// cluster's shared SSH connection (SFTP stat and ranged reads; no shell).
//
// - Only the job's own output files are read: the paths SLURM reported
//   (scontrol StdOut/StdErr), never a path a client sends.
// - Data is text: bytes are decoded as UTF-8 and a multi-byte character is
//   never split between two answers (its first bytes wait for the rest).
//   Bytes that are not UTF-8 arrive as U+FFFD.
// - One answer carries at most 1 MiB; nextOffset says where to go on.
// - A log that does not exist yet (the job is pending) is empty, not an error.
// - Following: one timer for all subscriptions, one SSH session per cluster
//   per tick, one stat per file per tick, a read only when the file grew.
//   New bytes go as logs/didAppend to the client that asked, and to no other.
//   The last notification has done: true, once the job ended and its log was
//   read to the end.
// - A file that shrank (truncated or replaced) is read again from 0: the next
//   notification's offset is lower than where the previous one ended, and
//   data is the file from there. No note is put into data; it stays the
//   file's bytes.
import { randomBytes } from 'node:crypto';
import { ErrorCode, LogsDidAppend, type JobInfo, type LogStream } from '../protocol';
import { RpcError } from '../rpc/connection';
import { isNoSuchFile } from '../ssh/session';
import type { ClusterRecord, ClusterStore, JobStore } from '../db/registry';
import type { RemoteSession } from '../connections';
import type { ClientSession } from '../server';
import type { Logger } from '../log';

/** The most one answer or notification carries. */
export const MAX_CHUNK_BYTES = 1024 * 1024;
/** Per subscription per tick: a fast writer does not starve the others. */
const MAX_BYTES_PER_TICK = 8 * MAX_CHUNK_BYTES;
/** Per client: following is cheap, but not free. */
const MAX_SUBSCRIPTIONS_PER_SESSION = 64;
/** A job whose end was recorded this long ago has written its last byte. */
const SETTLED_AFTER_END_MS = 10_000;

/** Whether an error from RemoteSession.stat/readRange means the file does not exist. */
export function isMissingRemoteFile(err: unknown): boolean {
  if (isNoSuchFile(err)) return true;
  // ClusterConnections turns SshErrors into RpcErrors and keeps only the message.
  return err instanceof RpcError && err.code === ErrorCode.RemoteFileFailed && /no such file/i.test(err.message);
}

/**
 * How many leading bytes of buf end on a UTF-8 character boundary: a
 * trailing lead byte with fewer continuation bytes than it announces is left
 * out (it waits for the next read). Invalid bytes are not held back.
 */
export function completeUtf8Length(buf: Uint8Array): number {
  const n = buf.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = buf[n - back]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b < 0x80 ? 1 : (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

/** Continuation bytes at the start of buf (at most 3): a read that began inside a character skips them. */
export function leadingContinuationBytes(buf: Uint8Array): number {
  let i = 0;
  while (i < 3 && i < buf.length && (buf[i]! & 0xc0) === 0x80) i++;
  return i;
}

/**
 * Decodes a log incrementally: feed it each read, get text that never ends
 * in half a character. `end()` gives what is left (as U+FFFD) when no more
 * bytes will come.
 */
export class Utf8Carry {
  private carry: Buffer = Buffer.alloc(0);

  /** Bytes held back from the last push. */
  get pending(): number {
    return this.carry.length;
  }

  push(bytes: Buffer): string {
    const all = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const n = completeUtf8Length(all);
    this.carry = Buffer.from(all.subarray(n));
    return all.subarray(0, n).toString('utf8');
  }

  end(): string {
    const rest = this.carry.toString('utf8');
    this.carry = Buffer.alloc(0);
    return rest;
  }

  reset(): void {
    this.carry = Buffer.alloc(0);
  }
}

export interface TailOptions {
  stream: LogStream;
  /** Byte offset; negative: that many bytes before the end. */
  offset: number;
  follow: boolean;
}

export interface TailResult {
  jobId: string;
  path: string;
  offset: number;
  data: string;
  nextOffset: number;
  subscriptionId: string | null;
}

export interface LogServiceDeps {
  jobs: JobStore;
  clusters: ClusterStore;
  /** The cluster's shared session, connected. */
  session: (cluster: ClusterRecord) => Promise<RemoteSession>;
  log: Logger;
  /** How often followed logs are checked. Default 1 s. */
  tickMs?: number;
  /** The first check after a new subscription (tests: never, they tick by hand). Default 100 ms. */
  firstTickMs?: number;
}

interface Subscription {
  id: string;
  session: ClientSession;
  jobId: string;
  stream: LogStream;
  path: string;
  /** Bytes of the file consumed (sent or held in the decoder). */
  pos: number;
  decoder: Utf8Carry;
  /** The job was seen ended on an earlier tick: one more quiet stat and it is done. */
  sawEnd: boolean;
  failing: boolean;
}

/** The file a stream of the job is written to; stderr is stdout's file when SLURM merged them. */
export function logPath(job: JobInfo, stream: LogStream): string | null {
  const p = stream === 'stderr' ? (job.stderrPath ?? job.stdoutPath) : job.stdoutPath;
  return p === null || p === '' ? null : expandJobPattern(p, job);
}

/**
 * Fills in the filename patterns of --output/--error that only need the job
 * itself: %j and %J (job id), %A (an array's own id), %x (job name), %%.
 * squeue (22.05) prints a --error path with its patterns left in. Others
 * (%u, %N, %a...) stay, and such a file reads as not there.
 */
export function expandJobPattern(path: string, job: Pick<JobInfo, 'slurmJobId' | 'name'>): string {
  if (!path.includes('%')) return path;
  return path.replace(/%(\d*)([jJAx%])/g, (all, width: string, k: string) => {
    if (k === '%') return '%';
    const id = job.slurmJobId;
    if (k === 'x') return job.name;
    if (id === null || !/^\d+$/.test(id)) return all;
    return width ? id.padStart(Number(width), '0') : id;
  });
}

export class LogService {
  private readonly subs = new Map<string, Subscription>();
  private readonly watchedSessions = new WeakSet<ClientSession>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private disposed = false;
  private readonly tickMs: number;
  private readonly firstTickMs: number;

  constructor(private readonly d: LogServiceDeps) {
    this.tickMs = d.tickMs ?? 1000;
    this.firstTickMs = d.firstTickMs ?? Math.min(100, this.tickMs);
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  async tail(ref: string, opts: TailOptions, session: ClientSession): Promise<TailResult> {
    const job = this.d.jobs.resolve(ref);
    const cluster = this.d.clusters.find(job.cluster);
    if (!cluster) throw new RpcError(ErrorCode.NotFound, `job ${job.id} belongs to cluster ${job.cluster}, which was removed`);
    const path = logPath(job, opts.stream);
    if (path === null && job.terminal) {
      throw new RpcError(ErrorCode.NotFound, `job ${job.slurmJobId ?? job.id} has no ${opts.stream} log (${job.state}: it never ran)`);
    }
    if (opts.follow) {
      const mine = [...this.subs.values()].filter((s) => s.session === session).length;
      if (mine >= MAX_SUBSCRIPTIONS_PER_SESSION) {
        throw new RpcError(ErrorCode.Conflict, `this client already follows ${mine} logs; unsubscribe some first`);
      }
    }
    let result: TailResult = { jobId: job.id, path: path ?? '', offset: 0, data: '', nextOffset: 0, subscriptionId: null };
    if (path !== null) {
      const s = await this.d.session(cluster);
      result = { ...result, ...(await readFrom(s, path, opts.offset)) };
    }
    if (!opts.follow) return result;
    const id = randomBytes(9).toString('base64url');
    this.subs.set(id, {
      id,
      session,
      jobId: job.id,
      stream: opts.stream,
      path: path ?? '',
      pos: result.nextOffset,
      decoder: new Utf8Carry(),
      sawEnd: false,
      failing: false,
    });
    this.watchSession(session);
    // Soon, not at once: the answer must reach the client before the first notification.
    this.schedule(this.firstTickMs);
    return { ...result, subscriptionId: id };
  }

  /** Ends a subscription; only the client that made it may. */
  unsubscribe(id: string, session?: ClientSession): boolean {
    const sub = this.subs.get(id);
    if (!sub || (session !== undefined && sub.session !== session)) return false;
    this.subs.delete(id);
    return true;
  }

  /** Ends every subscription of a client (it disconnected). */
  closeSession(session: ClientSession): number {
    let n = 0;
    for (const [id, sub] of this.subs) {
      if (sub.session === session) {
        this.subs.delete(id);
        n++;
      }
    }
    return n;
  }

  dispose(): void {
    this.disposed = true;
    this.subs.clear();
    clearTimeout(this.timer);
  }

  private watchSession(session: ClientSession): void {
    if (this.watchedSessions.has(session)) return;
    this.watchedSessions.add(session);
    session.rpc.onClose(() => this.closeSession(session));
  }

  private schedule(ms: number): void {
    if (this.disposed || this.ticking) return;
    clearTimeout(this.timer);
    if (this.subs.size === 0) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  /** One pass over every subscription; exposed for tests. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const byCluster = new Map<string, Subscription[]>();
      for (const sub of this.subs.values()) {
        if (sub.session.rpc.closed) {
          this.subs.delete(sub.id);
          continue;
        }
        const job = this.d.jobs.find(sub.jobId);
        if (!job) {
          this.finish(sub);
          continue;
        }
        const list = byCluster.get(job.cluster) ?? [];
        list.push(sub);
        byCluster.set(job.cluster, list);
      }
      await Promise.all([...byCluster].map(([name, subs]) => this.tickCluster(name, subs)));
    } finally {
      this.ticking = false;
      this.schedule(this.tickMs);
    }
  }

  private async tickCluster(name: string, subs: Subscription[]): Promise<void> {
    const cluster = this.d.clusters.find(name);
    if (!cluster) {
      for (const sub of subs) this.finish(sub);
      return;
    }
    let s: RemoteSession;
    try {
      s = await this.d.session(cluster);
    } catch (err) {
      for (const sub of subs) this.failed(sub, err);
      return;
    }
    // One stat per file, however many follow it.
    const sizes = new Map<string, Promise<number | null>>();
    const sizeOf = (path: string) => {
      let p = sizes.get(path);
      if (!p) {
        p = s.stat(path).then(
          (st) => st.size,
          (err: unknown) => {
            if (isMissingRemoteFile(err)) return null;
            throw err;
          },
        );
        sizes.set(path, p);
      }
      return p;
    };
    await Promise.all(
      subs.map(async (sub) => {
        try {
          await this.tickOne(sub, s, sizeOf);
          sub.failing = false;
        } catch (err) {
          this.failed(sub, err);
        }
      }),
    );
  }

  private async tickOne(sub: Subscription, s: RemoteSession, sizeOf: (path: string) => Promise<number | null>): Promise<void> {
    // The job as the poller last saw it: read before the stat, so an ended job's stat shows its whole log.
    const job = this.d.jobs.find(sub.jobId);
    if (!job) return this.finish(sub);
    const path = logPath(job, sub.stream);
    if (path === null) {
      if (job.terminal) this.finish(sub);
      return;
    }
    if (path !== sub.path) {
      // SLURM reported the path only now (or changed it): start that file from its beginning.
      sub.path = path;
      sub.pos = 0;
      sub.decoder.reset();
    }
    const size = await sizeOf(path);
    if (size === null) {
      // Not written yet (pending), or a job that ended without ever writing it.
      if (job.terminal && (sub.sawEnd || settled(job))) this.finish(sub);
      else if (job.terminal) sub.sawEnd = true;
      return;
    }
    if (size < sub.pos) {
      this.d.log.info('followed log shrank; reading it from the start', { job: job.id, path, size, was: sub.pos });
      sub.pos = 0;
      sub.decoder.reset();
    }
    let budget = MAX_BYTES_PER_TICK;
    let grew = false;
    while (sub.pos < size && budget > 0 && this.subs.has(sub.id)) {
      // Bytes held back from the last read go out with these: together at most 1 MiB.
      const want = Math.min(size - sub.pos, MAX_CHUNK_BYTES - sub.decoder.pending, budget);
      const bytes = await s.readRange(path, sub.pos, want);
      if (bytes.length === 0) break;
      grew = true;
      const dataOffset = sub.pos - sub.decoder.pending;
      sub.pos += bytes.length;
      budget -= bytes.length;
      const data = sub.decoder.push(bytes);
      if (data.length > 0) this.notify(sub, dataOffset, data, false);
    }
    if (job.terminal && sub.pos >= size) {
      // Done after a tick that found the job ended and the file no longer growing
      // (a shared filesystem may show the last bytes a moment late).
      if (!grew && (sub.sawEnd || settled(job))) this.finish(sub);
      else sub.sawEnd = true;
    }
  }

  /** The last notification: whatever the decoder still holds (an unfinished character, as U+FFFD), done. */
  private finish(sub: Subscription): void {
    if (!this.subs.has(sub.id)) return;
    const offset = sub.pos - sub.decoder.pending;
    this.notify(sub, offset, sub.decoder.end(), true);
    this.subs.delete(sub.id);
  }

  private notify(sub: Subscription, offset: number, data: string, done: boolean): void {
    if (!this.subs.has(sub.id)) return;
    try {
      sub.session.rpc.notify(LogsDidAppend, { subscriptionId: sub.id, jobId: sub.jobId, stream: sub.stream, offset, data, done });
    } catch (err) {
      this.d.log.debug('log notification not sent', { subscription: sub.id, error: (err as Error).message });
      this.subs.delete(sub.id);
    }
  }

  private failed(sub: Subscription, err: unknown): void {
    // Kept: the connection may come back. Logged once per failure streak.
    if (!sub.failing) this.d.log.warn('following a log failed; retrying', { job: sub.jobId, path: sub.path, error: (err as Error)?.message ?? String(err) });
    sub.failing = true;
  }
}

function settled(job: JobInfo): boolean {
  return job.endTime !== null && Date.now() - Date.parse(job.endTime) > SETTLED_AFTER_END_MS;
}

/**
 * Reads from offset (negative: from the end) up to MAX_CHUNK_BYTES, on
 * character boundaries. A missing file reads as empty; an offset past the
 * end means the file was truncated since, so it is read from 0.
 */
export async function readFrom(s: RemoteSession, path: string, requested: number): Promise<{ offset: number; data: string; nextOffset: number }> {
  let size: number;
  try {
    size = (await s.stat(path)).size;
  } catch (err) {
    if (isMissingRemoteFile(err)) return { offset: 0, data: '', nextOffset: 0 };
    throw err;
  }
  let start = requested < 0 ? Math.max(0, size + requested) : requested;
  if (start > size) start = 0;
  const length = Math.min(size - start, MAX_CHUNK_BYTES);
  if (length <= 0) return { offset: start, data: '', nextOffset: start };
  let bytes = await s.readRange(path, start, length);
  let offset = start;
  if (requested < 0 && start > 0) {
    // A tail that starts inside a character starts at the next one.
    const skip = leadingContinuationBytes(bytes);
    bytes = bytes.subarray(skip);
    offset += skip;
  }
  const complete = completeUtf8Length(bytes);
  return { offset, data: bytes.subarray(0, complete).toString('utf8'), nextOffset: offset + complete };
}
