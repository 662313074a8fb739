// Partitions from `sinfo --noheader --format=…` as built by sinfoCommand
// (columns in SINFO_FIELDS order). sinfo prints one line per partition and
// kind of node in it (nodes differing in CPUs, memory or GRES get separate
// lines), so lines are also merged into one entry per partition.
import { FIELD_SEPARATOR, SINFO_FIELDS } from './commands';
import type { SinfoField } from './commands';
import { issue, optionalText, outputLines, rowsResult, splitColumns } from './output';
import type { ParseIssue, ParseResult } from './output';
import { parseSlurmDurationDetailed } from './time';

/** Node or CPU counts from `%F`/`%C`: allocated/idle/other/total. */
export interface StateCounts {
  allocated: number;
  idle: number;
  other: number;
  total: number;
}

export interface SinfoRow {
  partition: string;
  /** `%P` marks the default partition with `*`. */
  isDefault: boolean;
  /** `up`, `down`, `drain`, `inact`; `down*` style marks pass through. */
  avail: string;
  /** Max time limit in seconds; null when unlimited (`infinite`) or unreadable. */
  maxTimeSeconds: number | null;
  maxTimeUnlimited: boolean;
  /** Default time limit in seconds; null when none is set (`n/a`) or unlimited. */
  defaultTimeSeconds: number | null;
  nodes: number | null;
  nodesByState: StateCounts | null;
  cpusByState: StateCounts | null;
  /** Lower bound when the nodes differ (sinfo prints `2+`). */
  cpusPerNode: number | null;
  /** Megabytes, lower bound as above. */
  memoryPerNodeMb: number | null;
  gres: string | null;
  /** `1-infinite`, `1-4`. */
  jobSize: string | null;
  nodeList: string | null;
}

export interface SinfoPartition {
  name: string;
  isDefault: boolean;
  avail: string;
  maxTimeSeconds: number | null;
  maxTimeUnlimited: boolean;
  defaultTimeSeconds: number | null;
  nodes: number;
  nodesByState: StateCounts | null;
  cpusByState: StateCounts | null;
  /** Smallest and largest CPUs per node over the partition's lines. */
  minCpusPerNode: number | null;
  maxCpusPerNode: number | null;
  minMemoryPerNodeMb: number | null;
  maxMemoryPerNodeMb: number | null;
  /** Distinct GRES strings of its nodes (e.g. `gpu:a100:4`). */
  gres: string[];
  nodeLists: string[];
  jobSize: string | null;
}

const COLUMN_COUNT = SINFO_FIELDS.length;

export function parseSinfoRows(output: string): ParseResult<SinfoRow[]> {
  const rows: SinfoRow[] = [];
  const issues: ParseIssue[] = [];
  let nonBlank = 0;
  for (const [i, line] of outputLines(output).entries()) {
    if (line.trim() === '') continue;
    nonBlank++;
    const row = parseSinfoLine(line);
    if (typeof row === 'string') issues.push(issue(i + 1, line, row));
    else rows.push(row);
  }
  return rowsResult('sinfo', rows, issues, nonBlank);
}

/** One entry per partition, in sinfo's order. */
export function parseSinfo(output: string): ParseResult<SinfoPartition[]> {
  const rows = parseSinfoRows(output);
  if (!rows.ok) return rows;
  const parts = new Map<string, SinfoPartition>();
  for (const r of rows.value) {
    const p = parts.get(r.partition);
    if (p === undefined) {
      parts.set(r.partition, {
        name: r.partition,
        isDefault: r.isDefault,
        avail: r.avail,
        maxTimeSeconds: r.maxTimeSeconds,
        maxTimeUnlimited: r.maxTimeUnlimited,
        defaultTimeSeconds: r.defaultTimeSeconds,
        nodes: r.nodes ?? 0,
        nodesByState: r.nodesByState,
        cpusByState: r.cpusByState,
        minCpusPerNode: r.cpusPerNode,
        maxCpusPerNode: r.cpusPerNode,
        minMemoryPerNodeMb: r.memoryPerNodeMb,
        maxMemoryPerNodeMb: r.memoryPerNodeMb,
        gres: r.gres === null ? [] : [r.gres],
        nodeLists: r.nodeList === null ? [] : [r.nodeList],
        jobSize: r.jobSize,
      });
      continue;
    }
    p.isDefault ||= r.isDefault;
    p.nodes += r.nodes ?? 0;
    p.nodesByState = addCounts(p.nodesByState, r.nodesByState);
    p.cpusByState = addCounts(p.cpusByState, r.cpusByState);
    p.minCpusPerNode = pick(Math.min, p.minCpusPerNode, r.cpusPerNode);
    p.maxCpusPerNode = pick(Math.max, p.maxCpusPerNode, r.cpusPerNode);
    p.minMemoryPerNodeMb = pick(Math.min, p.minMemoryPerNodeMb, r.memoryPerNodeMb);
    p.maxMemoryPerNodeMb = pick(Math.max, p.maxMemoryPerNodeMb, r.memoryPerNodeMb);
    if (r.gres !== null && !p.gres.includes(r.gres)) p.gres.push(r.gres);
    if (r.nodeList !== null) p.nodeLists.push(r.nodeList);
  }
  return { ok: true, value: [...parts.values()], issues: rows.issues };
}

/** One line, or the reason it could not be read. */
export function parseSinfoLine(line: string): SinfoRow | string {
  const cols = splitColumns(line, FIELD_SEPARATOR, COLUMN_COUNT);
  if (cols === null) return `expected ${COLUMN_COUNT} columns separated by U+001F`;
  const c = {} as Record<SinfoField, string>;
  SINFO_FIELDS.forEach(([field], i) => {
    c[field] = cols[i] as string;
  });
  const partition = c.partition.trim();
  if (partition === '' || /\s/.test(partition)) return 'no partition name';
  const max = parseSlurmDurationDetailed(c.timeLimit);
  const def = parseSlurmDurationDetailed(c.defaultTime);
  return {
    partition,
    isDefault: c.partitionMarked.trim().endsWith('*'),
    avail: c.avail.trim(),
    maxTimeSeconds: max.kind === 'seconds' ? max.seconds : null,
    maxTimeUnlimited: max.kind === 'unlimited',
    defaultTimeSeconds: def.kind === 'seconds' ? def.seconds : null,
    nodes: count(c.nodes),
    nodesByState: stateCounts(c.nodesByState),
    cpusByState: stateCounts(c.cpusByState),
    cpusPerNode: count(c.cpusPerNode),
    memoryPerNodeMb: count(c.memoryPerNode),
    gres: optionalText(c.gres),
    jobSize: optionalText(c.jobSize),
    nodeList: optionalText(c.nodeList),
  };
}

/** `4`, or `2+` (the smallest of differing values). */
function count(text: string): number | null {
  const m = /^(\d+)\+?$/.exec(text.trim());
  return m ? Number(m[1]) : null;
}

function stateCounts(text: string): StateCounts | null {
  const m = /^(\d+)\/(\d+)\/(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) return null;
  return { allocated: Number(m[1]), idle: Number(m[2]), other: Number(m[3]), total: Number(m[4]) };
}

function addCounts(a: StateCounts | null, b: StateCounts | null): StateCounts | null {
  if (a === null || b === null) return a ?? b;
  return { allocated: a.allocated + b.allocated, idle: a.idle + b.idle, other: a.other + b.other, total: a.total + b.total };
}

function pick(f: (x: number, y: number) => number, a: number | null, b: number | null): number | null {
  if (a === null || b === null) return a ?? b;
  return f(a, b);
}
