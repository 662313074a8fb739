// Job records for runtime prediction, one shape whatever they come from:
// Standard Workload Format traces (the Parallel Workloads Archive), dumps of
// `sacct --parsable2`, and the daemon's live sacct rows (parseSacct).
//
// SWF (one job a line, whitespace-separated, `;` comments; -1 = unknown):
//   1 job  2 submit  3 wait  4 run time  5 allocated processors  6 avg CPU
//   7 used memory (KB/proc)  8 requested processors  9 requested time
//   10 requested memory (KB/proc)  11 status  12 user  13 group  14 application
//   15 queue  16 partition  17 preceding job  18 think time
// Jobs with run time <= 0 or requested time <= 0 are left out, as the
// baselines in the notes did.
//
// sacct: the job's own rows only (not steps), ended in a state where it ran
// (COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED after it started),
// with Elapsed > 0.
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import * as zlib from 'node:zlib';
import { FIELD_SEPARATOR, SACCT_FIELDS } from '../slurm/commands';
import { parseSacct, parseSacctLine } from '../slurm/sacct';
import type { SacctRow } from '../slurm/sacct';
import type { TimestampOptions } from '../slurm/time';

export interface JobRecord {
  /** Job id as the source names it. */
  id: string;
  user: string;
  /** Job name (sacct) or application number (SWF field 14); '' when unknown. */
  jobName: string;
  /** Epoch seconds. */
  submit: number;
  /** Epoch seconds: submit + wait (SWF; submit when the wait is unknown), Start (sacct). */
  start: number;
  /** Epoch seconds: start + runtime (SWF), End (sacct). When the job's runtime became known. */
  end: number;
  /** Seconds (elapsed), > 0. */
  runtime: number;
  /** Seconds; null when unknown or unlimited. */
  requestedTime: number | null;
  cpus: number;
  nodes: number | null;
  memMB: number | null;
  gpus: number | null;
  partition: string | null;
  qos: string | null;
  account: string | null;
  /** sacct's state, or SWF status as `SWF:<n>` (1 completed, 0 failed, 5 cancelled). */
  state: string;
  /** Exit code (sacct); null for SWF. */
  exit: number | null;
}

export type TraceFormat = 'swf' | 'sacct';

export interface TraceInfo {
  format: TraceFormat;
  /** Lines holding a job (SWF) or job rows (sacct, steps not counted). */
  rows: number;
  /** Jobs kept. */
  jobs: number;
  /** Rows left out, by reason. */
  skipped: Record<string, number>;
  /** SWF header fields (`; Key: value`), e.g. UnixStartTime, TimeZone, Acknowledge. */
  header: Record<string, string>;
  /** Seconds east of UTC for hour-of-day features (SWF TimeZone header; 0 otherwise). */
  utcOffsetSeconds: number;
}

export interface Trace {
  jobs: JobRecord[];
  info: TraceInfo;
}

export interface ReadTraceOptions extends TimestampOptions {
  format?: TraceFormat;
  /** Keep at most this many jobs (the first ones in the file). */
  limit?: number;
  /** SWF: processors from the requested field 8 (default) or the allocated field 5. */
  swfProcessors?: 'requested' | 'allocated';
}

/** Lines of a file, gunzipped on the fly when it is gzip (by its magic bytes). */
export async function* fileLines(file: string): AsyncGenerator<string> {
  const fd = await fs.promises.open(file, 'r');
  const magic = Buffer.alloc(2);
  try {
    await fd.read(magic, 0, 2, 0);
  } finally {
    await fd.close();
  }
  const raw = fs.createReadStream(file);
  const input = magic[0] === 0x1f && magic[1] === 0x8b ? raw.pipe(zlib.createGunzip()) : raw;
  raw.on('error', (err) => input.destroy(err));
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** Format from the name (`.swf`, `.swf.gz`) or the first non-blank line. */
export function guessFormat(file: string, firstLine?: string): TraceFormat {
  if (/\.swf(\.gz)?$/i.test(file)) return 'swf';
  if (firstLine !== undefined && (firstLine.startsWith(';') || /^\s*\d+(\s+-?\d+(\.\d+)?){10,}\s*$/.test(firstLine))) return 'swf';
  return 'sacct';
}

export async function readTrace(file: string, options: ReadTraceOptions = {}): Promise<Trace> {
  let format = options.format;
  if (format === undefined) {
    let first: string | undefined;
    for await (const line of fileLines(file)) {
      if (line.trim() !== '') {
        first = line;
        break;
      }
    }
    format = guessFormat(file, first);
  }
  const reader = format === 'swf' ? new SwfReader(options) : new SacctDumpReader(options);
  const limit = options.limit ?? Infinity;
  for await (const line of fileLines(file)) {
    reader.line(line);
    if (reader.jobs.length >= limit) break;
  }
  return reader.finish();
}

export function parseSwf(text: string, options: ReadTraceOptions = {}): Trace {
  const r = new SwfReader(options);
  for (const line of text.split(/\r?\n/)) {
    r.line(line);
    if (r.jobs.length >= (options.limit ?? Infinity)) break;
  }
  return r.finish();
}

export function parseSacctDump(text: string, options: ReadTraceOptions = {}): Trace {
  const r = new SacctDumpReader(options);
  for (const line of text.split(/\r?\n/)) {
    r.line(line);
    if (r.jobs.length >= (options.limit ?? Infinity)) break;
  }
  return r.finish();
}

function bump(skipped: Record<string, number>, reason: string): void {
  skipped[reason] = (skipped[reason] ?? 0) + 1;
}

class SwfReader {
  readonly jobs: JobRecord[] = [];
  private readonly header: Record<string, string> = {};
  private readonly skipped: Record<string, number> = {};
  private rows = 0;
  constructor(private readonly options: ReadTraceOptions) {}

  line(line: string): void {
    const t = line.trim();
    if (t === '') return;
    if (t.startsWith(';')) {
      const m = /^;\s*([A-Za-z][\w ]*?):\s*(.*)$/.exec(t);
      if (m && this.header[m[1] as string] === undefined) this.header[m[1] as string] = (m[2] as string).trim();
      return;
    }
    this.rows++;
    const job = swfJob(t, Number(this.header.UnixStartTime ?? 0) || 0, this.options.swfProcessors ?? 'requested');
    if (typeof job === 'string') bump(this.skipped, job);
    else this.jobs.push(job);
  }

  finish(): Trace {
    const tz = Number(this.header.TimeZone);
    return {
      jobs: this.jobs,
      info: {
        format: 'swf',
        rows: this.rows,
        jobs: this.jobs.length,
        skipped: this.skipped,
        header: this.header,
        utcOffsetSeconds: Number.isFinite(tz) ? tz : 0,
      },
    };
  }
}

/** One SWF line as a job, or why it is left out. `unixStart`: the header's UnixStartTime (SWF times are relative to it). */
export function swfJob(line: string, unixStart = 0, processors: 'requested' | 'allocated' = 'requested'): JobRecord | string {
  const f = line.trim().split(/\s+/).map(Number);
  if (f.length < 18 || f.slice(0, 18).some((v) => !Number.isFinite(v))) return 'malformed';
  const v = (i: number) => f[i - 1] as number; // 1-based as in the SWF definition
  const runtime = v(4);
  const requested = v(9);
  if (runtime <= 0) return 'runtime<=0';
  if (requested <= 0) return 'requested<=0';
  const submit = unixStart + v(2);
  const wait = v(3) > 0 ? v(3) : 0;
  const reqProcs = v(8) > 0 ? v(8) : null;
  const allocProcs = v(5) > 0 ? v(5) : null;
  const cpus = (processors === 'requested' ? (reqProcs ?? allocProcs) : (allocProcs ?? reqProcs)) ?? 1;
  const memKbPerProc = v(10) > 0 ? v(10) : null;
  return {
    id: String(v(1)),
    user: v(12) >= 0 ? `u${v(12)}` : '?',
    jobName: v(14) >= 0 ? `a${v(14)}` : '',
    submit,
    start: submit + wait,
    end: submit + wait + runtime,
    runtime,
    requestedTime: requested,
    cpus,
    nodes: null,
    memMB: memKbPerProc !== null ? (memKbPerProc * cpus) / 1024 : null,
    gpus: null,
    partition: v(16) >= 0 ? `p${v(16)}` : null,
    qos: v(15) >= 0 ? `q${v(15)}` : null,
    account: v(13) >= 0 ? `g${v(13)}` : null,
    state: `SWF:${v(11)}`,
    exit: null,
  };
}

const RAN_STATES = new Set(['COMPLETED', 'FAILED', 'TIMEOUT', 'OUT_OF_MEMORY', 'CANCELLED']);

/** A sacct job row as a record, or why it is left out (steps, jobs that never ran or have not ended). */
export function sacctJob(row: SacctRow): JobRecord | string {
  if (row.step !== null) return 'step';
  if (!RAN_STATES.has(row.state)) return `state ${row.state}`;
  if (row.start === null) return 'never started';
  if (row.elapsedSeconds === null || row.elapsedSeconds <= 0) return 'elapsed<=0';
  if (row.submit === null) return 'no submit time';
  const submit = Date.parse(row.submit) / 1000;
  const start = Date.parse(row.start) / 1000;
  const end = row.end !== null ? Date.parse(row.end) / 1000 : start + row.elapsedSeconds;
  if (!Number.isFinite(submit) || !Number.isFinite(end)) return 'bad timestamps';
  const mem = row.reqMem;
  const cpus = row.numCpus ?? row.reqTres?.cpus ?? 1;
  const memBytes = mem === null ? (row.reqTres?.memBytes ?? null) : mem.per === 'cpu' ? mem.bytes * cpus : mem.per === 'node' ? mem.bytes * (row.numNodes ?? 1) : mem.bytes;
  return {
    id: row.jobIdRaw || row.jobId,
    user: row.user ?? '?',
    jobName: row.jobName,
    submit,
    start,
    end,
    runtime: row.elapsedSeconds,
    requestedTime: row.timeLimitSeconds,
    cpus,
    nodes: row.numNodes,
    memMB: memBytes !== null ? memBytes / 2 ** 20 : null,
    gpus: row.reqTres?.gpus ?? null,
    partition: row.partition,
    qos: row.qos,
    account: row.account,
    state: row.state,
    exit: row.exitCode?.code ?? null,
  };
}

/** Records from the daemon's live sacct output (sacctCommand/sacctSinceCommand). */
export function jobsFromSacctOutput(output: string, options: TimestampOptions = {}): JobRecord[] {
  const r = parseSacct(output, options);
  if (!r.ok) return [];
  const out: JobRecord[] = [];
  for (const j of r.value) {
    const rec = sacctJob(j);
    if (typeof rec !== 'string') out.push(rec);
  }
  return out;
}

/**
 * `sacct --parsable2` output: with or without its header line, `|` or U+001F
 * between columns. Without a header the columns must be SACCT_FIELDS in order
 * (the daemon's own format); with one, any subset holding at least those the
 * records need, in any order (JobName last when names may hold the separator).
 */
class SacctDumpReader {
  readonly jobs: JobRecord[] = [];
  private readonly skipped: Record<string, number> = {};
  private rows = 0;
  private columns: string[] | null = null;
  private separator: string | null = null;
  private readonly seen = new Map<string, number>();
  constructor(private readonly options: ReadTraceOptions) {}

  line(line: string): void {
    if (line.trim() === '') return;
    if (this.separator === null) this.separator = line.includes(FIELD_SEPARATOR) ? FIELD_SEPARATOR : '|';
    const sep = this.separator;
    if (this.columns === null && /^JobID(\W|$)/.test(line)) {
      this.columns = line.split(sep).map((c) => c.trim());
      return;
    }
    let normalized = line;
    if (this.columns !== null || sep !== FIELD_SEPARATOR) {
      const names = this.columns ?? [...SACCT_FIELDS];
      const cells = line.split(sep);
      // A job name holding the separator: the extra cells belong to the last column.
      if (cells.length > names.length) cells.splice(names.length - 1, cells.length, cells.slice(names.length - 1).join(sep));
      const byName = new Map(names.map((n, i) => [n, cells[i] ?? '']));
      normalized = SACCT_FIELDS.map((f) => (byName.get(f) ?? '').replaceAll(FIELD_SEPARATOR, ' ')).join(FIELD_SEPARATOR);
    }
    const row = parseSacctLine(normalized, this.options);
    if (typeof row === 'string') {
      this.rows++;
      bump(this.skipped, 'unreadable');
      return;
    }
    if (row.step !== null) return;
    this.rows++;
    const rec = sacctJob(row);
    if (typeof rec === 'string') {
      bump(this.skipped, rec);
      return;
    }
    // A later record of the same job (requeue, --duplicates) replaces the earlier one.
    const at = this.seen.get(rec.id);
    if (at !== undefined) {
      this.jobs[at] = rec;
      bump(this.skipped, 'duplicate');
      return;
    }
    this.seen.set(rec.id, this.jobs.length);
    this.jobs.push(rec);
  }

  finish(): Trace {
    return {
      jobs: this.jobs,
      info: { format: 'sacct', rows: this.rows, jobs: this.jobs.length, skipped: this.skipped, header: {}, utcOffsetSeconds: -new Date().getTimezoneOffset() * 60 },
    };
  }
}
