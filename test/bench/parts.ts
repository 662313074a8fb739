// The bench's row API: a part measures something and returns rows for the one
// table `npm run bench` prints (and writes to bench-results.json). To add
// figures, write a part and list it in PARTS in test/bench/main.ts:
//
//   export const myPart: BenchPart = {
//     name: 'dashboard',                 // `--only=dashboard` runs just it, `--no-dashboard` skips it
//     needsCluster: false,               // skipped (with a note) under --no-cluster
//     async run(ctx) {
//       const ms = ...;
//       return { rows: [row('dashboard first render', ms, { goal: '≤ 500 ms', met: ms <= 500, unit: 'ms' })] };
//     },
//   };
import type { Row } from './util';
import { ms } from './util';

export type { Row } from './util';

export interface BenchContext {
  /** A temporary directory of this run, removed at its end. */
  dir: string;
  /** False under --no-cluster. */
  useCluster: boolean;
  /** The command line's flags (`--soak`, ...). */
  argv: ReadonlySet<string>;
  /** Progress on stderr. */
  progress(message: string): void;
}

export interface PartResult {
  rows: Row[];
  /** Lines printed under the table. */
  notes?: string[];
  /** Merged into the JSON output under the part's name. */
  json?: Record<string, unknown>;
}

export interface BenchPart {
  name: string;
  needsCluster?: boolean;
  /** Runs only when this flag is given (e.g. the 10-minute soak: `--soak`). */
  onlyWith?: string;
  run(ctx: BenchContext): Promise<PartResult>;
}

/**
 * One row: a figure, its value, its goal and whether the goal is met
 * (undefined: no goal). `value` may be a number (formatted with `unit`) or
 * text; the number is kept as `number` in the JSON.
 */
export function row(
  figure: string,
  value: number | string,
  opts: { goal?: string; met?: boolean; unit?: 'ms' | '%' | 'MiB' | ''; jobs?: string; source?: string; note?: string } = {},
): Row & { number?: number } {
  const text =
    typeof value === 'string' ? value : opts.unit === 'ms' ? ms(value) : opts.unit === '%' ? `${value.toFixed(1)} %` : opts.unit === 'MiB' ? `${value.toFixed(1)} MiB` : String(value);
  return {
    figure,
    jobs: opts.jobs ?? '',
    source: opts.source ?? '',
    value: text,
    goal: opts.goal ?? '',
    met: opts.met,
    note: opts.note,
    ...(typeof value === 'number' ? { number: value } : {}),
  };
}
