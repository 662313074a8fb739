// SLURM durations and timestamps as printed by squeue, sacct, scontrol and
// sinfo, converted to seconds and ISO-8601 strings.
//
// Time zone assumption: SLURM prints wall-clock times in the time zone of the
// process that formats them (the squeue/sacct/scontrol run on the cluster's
// login node) and never says which zone that is. By default we read them in
// the daemon's own local time zone, which is right when the daemon and the
// cluster agree (the test cluster, and most sites where users sit in the same
// zone as their cluster). Callers that know better (e.g. from `date +%z` on
// the cluster) pass `timeZone`.

/** A duration as SLURM prints it, classified. */
export type SlurmDuration =
  | { kind: 'seconds'; seconds: number }
  /** `UNLIMITED`, `infinite` (sinfo). */
  | { kind: 'unlimited' }
  /** `NOT_SET`, `Partition_Limit`, `N/A`, `None`, `(null)` or empty: no value of its own. */
  | { kind: 'unset' }
  /** `INVALID` (SLURM's own word for a negative time) or text that is not a duration. */
  | { kind: 'invalid'; text: string };

const UNSET_WORDS = new Set(['', 'NOT_SET', 'PARTITION_LIMIT', 'N/A', 'NONE', '(NULL)']);
const UNLIMITED_WORDS = new Set(['UNLIMITED', 'INFINITE']);

// Seconds may carry a fraction: sacct's TotalCPU/UserCPU print `MM:SS.mmm`.
const SECONDS_PART = /^\d+(?:\.\d+)?$/;
const INT_PART = /^\d+$/;

/**
 * Every form SLURM accepts or prints: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`,
 * `D-HH:MM`, `D-HH:MM:SS`, plus the words above. Note that `MM:SS` (two
 * fields, no day) is minutes:seconds, as squeue's TIME column prints `1:23`.
 */
export function parseSlurmDurationDetailed(text: string): SlurmDuration {
  if (typeof text !== 'string') return { kind: 'invalid', text: String(text) };
  const t = text.trim();
  const upper = t.toUpperCase();
  if (UNSET_WORDS.has(upper)) return { kind: 'unset' };
  if (UNLIMITED_WORDS.has(upper)) return { kind: 'unlimited' };
  const invalid: SlurmDuration = { kind: 'invalid', text: t };
  if (upper === 'INVALID') return invalid;

  let days = 0;
  let rest = t;
  const dash = t.indexOf('-');
  let hasDays = false;
  if (dash >= 0) {
    const d = t.slice(0, dash);
    if (!INT_PART.test(d)) return invalid;
    days = Number(d);
    rest = t.slice(dash + 1);
    hasDays = true;
  }
  const parts = rest.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) return invalid;
  // Only the last field may carry a fraction, and only when it is seconds.
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    const last = i === parts.length - 1;
    const secondsField = last && (hasDays ? parts.length === 3 : parts.length >= 2);
    if (!(secondsField ? SECONDS_PART : INT_PART).test(p)) return invalid;
  }
  const n = parts.map(Number);
  let seconds: number;
  if (hasDays) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    const [h = 0, m = 0, s = 0] = n;
    seconds = ((days * 24 + h) * 60 + m) * 60 + s;
  } else if (n.length === 1) {
    seconds = (n[0] as number) * 60; // MM
  } else if (n.length === 2) {
    seconds = (n[0] as number) * 60 + (n[1] as number); // MM:SS
  } else {
    seconds = ((n[0] as number) * 60 + (n[1] as number)) * 60 + (n[2] as number); // HH:MM:SS
  }
  if (!Number.isFinite(seconds)) return invalid;
  return { kind: 'seconds', seconds };
}

/** Seconds, or null for anything that is not a finite duration (unlimited, unset, invalid). */
export function parseSlurmDuration(text: string): number | null {
  const d = parseSlurmDurationDetailed(text);
  return d.kind === 'seconds' ? d.seconds : null;
}

/** `D-HH:MM:SS` (or `HH:MM:SS` under a day), the form sbatch's --time accepts. Whole seconds, rounded up. */
export function formatSlurmDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`not a duration: ${seconds}`);
  const total = Math.ceil(seconds);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const hms = `${pad2(h)}:${pad2(m)}:${pad2(s)}`;
  return d > 0 ? `${d}-${hms}` : hms;
}

/**
 * The zone SLURM's wall-clock times are read in: the daemon's local zone
 * (default), UTC, a fixed offset east of UTC in minutes, or an IANA zone name.
 */
export type SlurmTimeZone = 'local' | 'UTC' | { offsetMinutes: number } | { iana: string };

export interface TimestampOptions {
  timeZone?: SlurmTimeZone;
}

const NO_TIME_WORDS = new Set(['', 'UNKNOWN', 'NONE', 'N/A', '(NULL)', '0']);
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * `2026-11-22T09:12:03` -> ISO string in UTC (`2026-11-22T09:12:03.000Z` when
 * the zone is UTC); `Unknown`, `None`, `N/A`, `NONE`, empty and anything
 * unparsable -> null.
 */
export function parseSlurmTimestamp(text: string, options: TimestampOptions = {}): string | null {
  if (typeof text !== 'string') return null;
  const t = text.trim();
  if (NO_TIME_WORDS.has(t.toUpperCase())) return null;
  const m = TIMESTAMP.exec(t);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return null;
  const ms = wallTimeToEpochMs(y, mo, d, h, mi, s, options.timeZone ?? 'local');
  if (ms === null || !Number.isFinite(ms)) return null;
  return new Date(ms).toISOString();
}

function wallTimeToEpochMs(y: number, mo: number, d: number, h: number, mi: number, s: number, zone: SlurmTimeZone): number | null {
  if (zone === 'local') {
    const date = new Date(y, mo - 1, d, h, mi, s);
    // new Date(y, ...) maps years 0..99 to 1900..1999.
    date.setFullYear(y);
    return date.getTime();
  }
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  if (zone === 'UTC') return asUtc;
  if ('offsetMinutes' in zone) return asUtc - zone.offsetMinutes * 60_000;
  // IANA zone: find the instant whose wall time in the zone is the one given.
  // Two rounds settle it except inside a DST gap, where the later offset wins
  // (the same choice `new Date(y, ...)` makes for the local zone).
  const first = zoneOffsetMs(asUtc, zone.iana);
  if (first === null) return null;
  let guess = asUtc - first;
  const second = zoneOffsetMs(guess, zone.iana);
  if (second === null) return null;
  if (second !== first) guess = asUtc - second;
  return guess;
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();

/** Offset of `zone` from UTC at instant `ms`, or null for an unknown zone. */
function zoneOffsetMs(ms: number, zone: string): number | null {
  let fmt = formatters.get(zone);
  if (fmt === undefined) {
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
    } catch {
      fmt = null;
    }
    formatters.set(zone, fmt);
  }
  if (fmt === null) return null;
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const wall = Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return wall - Math.floor(ms / 1000) * 1000;
}

function daysInMonth(y: number, mo: number): number {
  return new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
