// Runtime estimates in the editor, without VS Code: which documents get them,
// how an estimate reads in a CodeLens, where the daemon's problems and the
// --time directive are in the text, and the debounce that keeps only the
// latest request per document.
import type { RuntimeEstimate, ScriptProblem } from '../../daemon/protocol';

/**
 * How long after typing pauses an estimate is asked for. The issue asks for a
 * refresh within 150 ms; an estimate takes about 1 ms in the daemon, and the
 * rest of the way (keystroke to extension host, diagnostics to the rendered
 * squiggle) about 65 ms in code-server (npm run bench: `--only=activation`).
 */
export const ESTIMATE_DEBOUNCE_MS = 50;

/** Documents that get estimates: sbatch scripts and templates, and shell scripts with #SBATCH directives. */
export function wantsEstimate(languageId: string, _fileName: string, text: string): boolean {
  if (languageId === 'sbatch') return true;
  return languageId === 'shellscript' && /^#SBATCH\b/m.test(text);
}

/** An sbatch template (`NAME.sbatch.hbs`): estimated as rendered with its variables' defaults. */
export function isTemplate(fileName: string): boolean {
  return /\.hbs$/i.test(fileName);
}

/** The name a template file is known by (`train` for `train.sbatch.hbs`), made a plain word when it is not one. */
export function templateName(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const name = base.replace(/(\.sbatch)?\.hbs$/i, '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return name || 'template';
}

/** How estimates show in the editor (setting `slurmMl.estimates.display`). */
export type EstimateDisplay = 'range' | 'median' | 'off';

/** The configured cluster when set, else the only registered one, else none. */
export function estimateCluster(setting: string | undefined, clusters: readonly string[]): string | undefined {
  const s = setting?.trim();
  if (s) return s;
  return clusters.length === 1 ? clusters[0] : undefined;
}

/** "45 s", "40 m", "1 h 12 m", "2 h 05 m", "1 d 03 h". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} m`;
  return `${Math.floor(h / 24)} d ${String(h % 24).padStart(2, '0')} h`;
}

export function sourceLabel(e: Pick<RuntimeEstimate, 'source' | 'modelVersion'>): string {
  switch (e.source) {
    case 'model':
      return `from model${e.modelVersion !== null ? ` v${e.modelVersion}` : ''}`;
    case 'history':
      return 'from history';
    case 'request':
      return 'from the time limit';
    default:
      return 'no source';
  }
}

/** "≈ 1 h 12 m (80 %: 40 m – 2 h 05 m) · from history", or "no estimate"; `median` leaves the range out. */
export function estimateSummary(e: RuntimeEstimate | undefined, display: EstimateDisplay = 'range'): string {
  if (!e || e.p50 === null || e.source === 'none') return 'no estimate';
  const range = display === 'range' && e.p10 !== null && e.p90 !== null ? ` (80 %: ${formatDuration(e.p10)} – ${formatDuration(e.p90)})` : '';
  return `≈ ${formatDuration(e.p50)}${range} · ${sourceLabel(e)}`;
}

/**
 * The CodeLens title: the summary, the expected start when known, then the
 * Submit action; a template's says its defaults were used and cannot be
 * submitted as it is.
 */
export function lensTitle(e: RuntimeEstimate | undefined, o: { display?: EstimateDisplay; start?: string; template?: boolean } = {}): string {
  const start = o.start ? ` · starts ≈ ${o.start}` : '';
  return o.template ? `${estimateSummary(e, o.display)} · with the template's defaults` : `${estimateSummary(e, o.display)}${start} · Submit`;
}

/** An ISO time as a clock reads it: `14:05`, or `Tue 14:05` when not on the day of `now`. */
export function formatClock(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.toDateString() === now.toDateString() ? hm : `${['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()]} ${hm}`;
}

/** Everything the Estimate Runtime command shows, one line each. */
export function estimateDetails(e: RuntimeEstimate): string[] {
  const lines = [estimateSummary(e)];
  if (e.timeLimitSeconds !== null) lines.push(`time limit ${formatDuration(e.timeLimitSeconds)}`);
  if (e.expectedStart) lines.push(`expected start ${e.expectedStart}`);
  for (const w of e.warnings) lines.push(`${w.message}${w.suggestedLimit ? ` (suggested: --time=${w.suggestedLimit})` : ''}`);
  for (const p of e.problems) lines.push(`${p.severity} ${p.line === 0 ? 'in the arguments' : `on line ${p.line}`}: ${p.message}`);
  return lines;
}

export interface ZeroBasedRange {
  line: number;
  start: number;
  end: number;
}

/**
 * A daemon problem (1-based line and columns, endColumn exclusive; line 0 =
 * the command-line arguments) as a 0-based range, clamped to the text.
 * Problems in the arguments and empty ranges cover the whole first/own line.
 */
export function problemRange(p: Pick<ScriptProblem, 'line' | 'column' | 'endColumn'>, lines: readonly string[]): ZeroBasedRange {
  const count = Math.max(1, lines.length);
  const line = p.line <= 0 ? 0 : Math.min(p.line - 1, count - 1);
  const len = (lines[line] ?? '').length;
  if (p.line <= 0) return { line, start: 0, end: len };
  const start = Math.min(Math.max(0, p.column - 1), len);
  let end = Math.min(Math.max(start, p.endColumn - 1), len);
  if (end === start) {
    // Nothing to underline: the whole line (or its end) instead.
    if (start === len) return { line, start: 0, end: len };
    end = len;
  }
  return { line, start, end };
}

/** The value of the last --time/-t directive in the script's directive block, as a 0-based range. */
export function findTimeDirective(lines: readonly string[]): ZeroBasedRange | undefined {
  let found: ZeroBasedRange | undefined;
  for (const [i, text] of lines.entries()) {
    const t = text.trim();
    if (i === 0 && t.startsWith('#!')) continue;
    if (t && !t.startsWith('#')) break; // sbatch stops reading directives at the first command
    const m = /^(\s*#SBATCH\s+(?:--time(?:=|\s+)|-t\s*))(\S+)/.exec(text);
    if (m) found = { line: i, start: m[1]!.length, end: m[1]!.length + m[2]!.length };
  }
  return found;
}

export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

type Timers = { set: (fn: () => void, ms: number) => unknown; clear: (h: unknown) => void };
const realTimers: Timers = { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };

/**
 * One request per document version, started after typing pauses (or at once
 * when asked), shared by everyone who wants that version; results of versions
 * that are no longer the latest are never applied.
 */
export class LatestRequests<T> {
  private readonly latest = new Map<string, number>();
  private readonly cache = new Map<string, { version: number; promise: Promise<T> }>();
  private readonly timers = new Map<string, unknown>();
  private epoch = 0;

  constructor(
    private readonly run: (key: string, version: number) => Promise<T>,
    private readonly apply: (key: string, version: number, result: T) => void,
    private readonly delayMs = 300,
    private readonly clock: Timers = realTimers,
  ) {}

  /** After a pause of delayMs without another schedule for the key. */
  schedule(key: string, version: number): void {
    this.latest.set(key, version);
    this.clearTimer(key);
    this.timers.set(
      key,
      this.clock.set(() => {
        this.timers.delete(key);
        void this.now(key, version).catch(() => undefined);
      }, this.delayMs),
    );
  }

  /** The request for this version: the one already made, or a new one started now. */
  now(key: string, version: number): Promise<T> {
    const cached = this.cache.get(key);
    if (cached && cached.version === version) return cached.promise;
    if ((this.latest.get(key) ?? -Infinity) <= version) {
      this.latest.set(key, version);
      this.clearTimer(key);
    }
    const promise = this.run(key, version);
    const epoch = this.epoch;
    this.cache.set(key, { version, promise });
    promise.then(
      (r) => {
        if (epoch === this.epoch && this.isLatest(key, version)) this.apply(key, version, r);
      },
      () => {
        if (this.cache.get(key)?.promise === promise) this.cache.delete(key); // a failure is retried next time
      },
    );
    return promise;
  }

  isLatest(key: string, version: number): boolean {
    return this.latest.get(key) === version;
  }

  /** Forgets a document (closed): pending work is dropped and late results ignored. */
  forget(key: string): void {
    this.clearTimer(key);
    this.latest.delete(key);
    this.cache.delete(key);
  }

  /** Forgets every cached result (settings or clusters changed). */
  invalidate(): void {
    this.epoch++;
    this.cache.clear();
  }

  private clearTimer(key: string): void {
    const t = this.timers.get(key);
    if (t !== undefined) this.clock.clear(t);
    this.timers.delete(key);
  }

  dispose(): void {
    for (const k of [...this.timers.keys()]) this.clearTimer(k);
    this.cache.clear();
    this.latest.clear();
  }
}
