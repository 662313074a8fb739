// SLURM job ids as printed: `123`, array tasks `123_4`, the pending rest of an
// array `123_[5-9%2]`, het-job components `123+0`, and any of those with a
// step suffix (`123.batch`, `123_4.extern`, `123+0.0`). They stay strings
// everywhere (the array and het forms are not numbers); this module splits
// them into parts.

export interface TaskRange {
  start: number;
  end: number;
  /** `1-9:2` steps by 2; 1 otherwise. */
  step: number;
}

export interface ParsedJobId {
  /** The text as given, trimmed. */
  raw: string;
  /** The id without a step suffix: `123_4` for `123_4.batch`. */
  job: string;
  /** The leading number: the job, the array's base job, or the het leader. */
  baseId: number;
  /** `123_4` -> 4. */
  arrayTaskId: number | null;
  /** `123_[5-9%2]` -> `5-9%2` (also set for a single task: `4`). */
  arrayTaskSpec: string | null;
  /** The ranges of arrayTaskSpec; null when it could not be read (e.g. cut short by SLURM with `...`). */
  arrayTaskRanges: TaskRange[] | null;
  /** `%2` at the end of an array spec: at most that many tasks at once. */
  arrayThrottle: number | null;
  /** `123+1` -> 1. */
  hetOffset: number | null;
  /** `123.batch` -> `batch`; `123.0` -> `0`; null for the job itself. */
  step: string | null;
}

const JOB_ID = /^(\d+)(?:_(\d+|\[([^\]]*)\]?)|\+(\d+))?(?:\.([A-Za-z0-9_]+))?$/;

export function parseJobId(text: string): ParsedJobId | null {
  if (typeof text !== 'string') return null;
  const raw = text.trim();
  const m = JOB_ID.exec(raw);
  if (!m) return null;
  const baseId = Number(m[1]);
  if (!Number.isSafeInteger(baseId)) return null;
  const step = m[5] ?? null;
  const job = step === null ? raw : raw.slice(0, raw.length - step.length - 1);
  const out: ParsedJobId = {
    raw,
    job,
    baseId,
    arrayTaskId: null,
    arrayTaskSpec: null,
    arrayTaskRanges: null,
    arrayThrottle: null,
    hetOffset: m[4] !== undefined ? Number(m[4]) : null,
    step,
  };
  if (m[2] !== undefined) {
    if (m[3] === undefined) {
      out.arrayTaskId = Number(m[2]);
      out.arrayTaskSpec = m[2];
      out.arrayTaskRanges = [{ start: out.arrayTaskId, end: out.arrayTaskId, step: 1 }];
    } else {
      const spec = parseArraySpec(m[3]);
      out.arrayTaskSpec = m[3];
      out.arrayTaskRanges = spec.ranges;
      out.arrayThrottle = spec.throttle;
    }
  }
  return out;
}

/**
 * `1-3`, `1,3,5-7`, `1-9:2`, `5-9%2`: ranges and throttle. Ranges are null when
 * the text is not a full spec (SLURM cuts long ones to 64 bytes unless
 * SLURM_BITSTR_LEN says otherwise, ending them with `...`).
 */
export function parseArraySpec(spec: string): { ranges: TaskRange[] | null; throttle: number | null } {
  let body = spec.trim();
  let throttle: number | null = null;
  const pct = body.lastIndexOf('%');
  if (pct >= 0) {
    const t = body.slice(pct + 1);
    throttle = /^\d+$/.test(t) ? Number(t) : null;
    body = body.slice(0, pct);
  }
  const ranges: TaskRange[] = [];
  for (const part of body.split(',')) {
    const r = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!r) return { ranges: null, throttle };
    const start = Number(r[1]);
    const end = r[2] !== undefined ? Number(r[2]) : start;
    const step = r[3] !== undefined ? Number(r[3]) : 1;
    if (end < start || step < 1) return { ranges: null, throttle };
    ranges.push({ start, end, step });
  }
  return { ranges: ranges.length > 0 ? ranges : null, throttle };
}

/** Number of tasks the ranges cover. */
export function countArrayTasks(ranges: readonly TaskRange[]): number {
  return ranges.reduce((n, r) => n + Math.floor((r.end - r.start) / r.step) + 1, 0);
}

const COMMAND_JOB_ID = /^\d+(?:_(?:\d+|\[[\d,:%-]+\])|\+\d+)?$/;

/** Ids the command builders pass on: a job, an array task or task set, or a het component; no step. */
export function isValidJobId(text: string): boolean {
  return typeof text === 'string' && COMMAND_JOB_ID.test(text);
}
