// Small helpers for the bench: time and CPU measurement, percentiles, the table.

/** The value at quantile q (0..1) of the numbers, nearest-rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export interface Measured<T> {
  value: T;
  wallMs: number;
  /** User + system CPU time of this whole process during the call. */
  cpuMs: number;
}

/** Runs f once, measuring wall time and the process's CPU time (user + system) around it. */
export async function measure<T>(f: () => Promise<T>): Promise<Measured<T>> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { value, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return n >= 100 ? `${Math.round(n)} ms` : n >= 10 ? `${n.toFixed(1)} ms` : `${n.toFixed(2)} ms`;
}

export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export interface Row {
  figure: string;
  jobs: string;
  source: string;
  value: string;
  goal: string;
  /** true ✓, false ✗, undefined: no goal. */
  met?: boolean;
  note?: string;
}

/** A plain-text table, columns padded to their widest cell. */
export function table(rows: readonly Row[]): string {
  const head: Row = { figure: 'figure', jobs: 'jobs', source: 'source', value: 'value', goal: 'goal', note: 'notes' };
  const cells = (r: Row) => [r.figure, r.jobs, r.source, r.value, r.met === undefined ? r.goal : `${r.goal} ${r.met ? '✓' : '✗'}`, r.note ?? ''];
  const all = [head, ...rows].map(cells);
  const widths = all[0]!.map((_, i) => Math.max(...all.map((c) => [...c[i]!].length)));
  const line = (c: string[]) =>
    c
      .map((s, i) => s + ' '.repeat(widths[i]! - [...s].length))
      .join('  ')
      .trimEnd();
  return [line(all[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

/** Progress on stderr, so stdout holds only the results. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
