// CSV in and out for the batch runtime estimate: an uploaded file of job
// requests (one per line: name, time, cpus, nodes, mem, partition, gpus) and
// the estimates as a CSV to download. RFC 4180 quoting both ways; no value is
// ever run: they become sbatch options the daemon's directive parser reads.
import type { RuntimeEstimate } from '../daemon/protocol';
import type { BatchRow } from './protocol';

export const BATCH_COLUMNS = ['name', 'time', 'cpus', 'nodes', 'mem', 'partition', 'gpus'] as const;

/** Rows of fields; quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const s = text.replace(/^\uFEFF/, '');
  while (i < s.length) {
    const c = s[i]!;
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
    i++;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}

function quote(v: string): string {
  return /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsv(rows: ReadonlyArray<ReadonlyArray<string | number | null>>): string {
  return rows.map((r) => r.map((v) => quote(v === null ? '' : String(v))).join(',')).join('\r\n') + '\r\n';
}

const ALIASES: Record<string, (typeof BATCH_COLUMNS)[number]> = {
  name: 'name', 'job-name': 'name', job_name: 'name', jobname: 'name',
  time: 'time', 'time-limit': 'time', timelimit: 'time', time_limit: 'time',
  cpus: 'cpus', 'cpus-per-task': 'cpus', ncpus: 'cpus',
  nodes: 'nodes', nnodes: 'nodes',
  mem: 'mem', memory: 'mem',
  partition: 'partition',
  gpus: 'gpus', gpu: 'gpus',
};

export type BatchParse = { ok: true; rows: BatchRow[] } | { ok: false; error: string };

/** Reads the uploaded CSV: a header naming the columns (any order, at least `time` or `name`), then one job per line. */
export function parseBatchCsv(text: string, maxRows = 10_000): BatchParse {
  const rows = parseCsv(text);
  if (rows.length < 2) return { ok: false, error: 'the CSV needs a header line and at least one job (columns: name,time,cpus,nodes,mem,partition,gpus)' };
  const header = rows[0]!.map((h) => ALIASES[h.trim().toLowerCase()]);
  const unknown = rows[0]!.filter((_, i) => header[i] === undefined);
  if (unknown.length) return { ok: false, error: `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; use ${BATCH_COLUMNS.join(', ')}` };
  if (!header.includes('time') && !header.includes('name')) return { ok: false, error: 'the header needs a "time" or a "name" column' };
  if (rows.length - 1 > maxRows) return { ok: false, error: `${rows.length - 1} jobs; at most ${maxRows} at once` };
  const out: BatchRow[] = [];
  for (let r = 1; r < rows.length; r++) {
    const row: BatchRow = { name: '', time: '', cpus: '', nodes: '', mem: '', partition: '', gpus: '' };
    for (const [i, col] of header.entries()) {
      const v = (rows[r]![i] ?? '').trim();
      // One line each: they become sbatch options.
      if (/[\u0000-\u001f]/.test(v)) return { ok: false, error: `line ${r + 1}, column ${col}: control characters are not allowed` };
      if (v.length > 200) return { ok: false, error: `line ${r + 1}, column ${col}: longer than 200 characters` };
      row[col!] = v;
    }
    out.push(row);
  }
  return { ok: true, rows: out };
}

/** sbatch options for one row (the script itself is empty): the daemon's parser checks each value. */
export function batchSbatchArgs(r: BatchRow): string[] {
  const args: string[] = [];
  if (r.name) args.push(`--job-name=${r.name}`);
  if (r.time) args.push(`--time=${r.time}`);
  if (r.cpus) args.push(`--cpus-per-task=${r.cpus}`);
  if (r.nodes) args.push(`--nodes=${r.nodes}`);
  if (r.mem) args.push(`--mem=${r.mem}`);
  if (r.partition) args.push(`--partition=${r.partition}`);
  if (r.gpus) args.push(`--gres=gpu:${r.gpus}`);
  return args;
}

const round = (x: number | null) => (x === null ? null : Math.round(x));

/** The estimates as a CSV: the request's columns, then p10/p50/p90 in seconds, the source and what was wrong. */
export function estimatesCsv(rows: readonly BatchRow[], estimates: readonly RuntimeEstimate[]): string {
  const head = [...BATCH_COLUMNS, 'p10_seconds', 'p50_seconds', 'p90_seconds', 'source', 'warnings', 'problems'];
  const body = rows.map((r, i) => {
    const e = estimates[i];
    return [
      ...BATCH_COLUMNS.map((c) => r[c]),
      round(e?.p10 ?? null),
      round(e?.p50 ?? null),
      round(e?.p90 ?? null),
      e?.source ?? 'none',
      (e?.warnings ?? []).map((w) => w.message).join('; '),
      (e?.problems ?? []).map((p) => p.message).join('; '),
    ];
  });
  return formatCsv([head, ...body]);
}
