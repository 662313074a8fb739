// A running job's progress, read from the tail of its own log. Two sources,
// documented in the README ("Progress lines"):
//
// - the slurm-ml line a job prints itself, one per line, anywhere in the line:
//     SLURM_ML_PROGRESS 42        (a percentage; 42.5 and 42% too)
//     SLURM_ML_PROGRESS 3/10      (step 3 of 10: 30%)
// - tqdm's bars as tqdm writes them to a file: "\r" before every update, the
//   newest one unterminated ("Epoch 1:  37%|███▋      | 37/100 [00:12<00:21, 3.02it/s]").
//   Nested bars (position 1, 2, ...) end with cursor-up escapes; the outer bar wins.
//
// A source outranks the next: SLURM_ML_PROGRESS lines, then tqdm's outer bar,
// then inner bars. Once a job has shown a source, lower-ranked ones are
// ignored for it, so an epoch-level value does not flip to the batch bar's.
import type { JobInfo } from '../protocol';
import type { ClusterRecord, JobStore } from '../db/registry';
import type { RemoteSession } from '../connections';
import type { Logger } from '../log';
import { isMissingRemoteFile, logPath } from './logs';

export interface ProgressReading {
  /** 0-100. */
  percent: number;
  /** 0: a SLURM_ML_PROGRESS line; 1 + n: a tqdm bar at position n (0 is the outer bar). */
  rank: number;
}

// A marker must end its line: a block-buffered writer may have flushed "SLURM_ML_PROGRESS 4" of "42".
const MARKER = /SLURM_ML_PROGRESS[ \t]+(\d+(?:\.\d+)?)(?:[ \t]*(%)|[ \t]*\/[ \t]*(\d+(?:\.\d+)?))?[ \t]*$/;
// tqdm's l_bar ends "{percentage:3.0f}%|", then the bar, then "|".
const TQDM = /(?:^|[^\d.])(\d{1,3}(?:\.\d+)?)%\|[^|]*\|(?:\s*(\d+)\/(\d+)\s*\[)?/;
const CURSOR_UP = /\x1b\[A/g;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

function clampPercent(p: number): number | null {
  if (!Number.isFinite(p) || p < 0 || p > 100) return null;
  return Math.round(p * 10) / 10;
}

function markerPercent(m: RegExpExecArray): number | null {
  const value = Number(m[1]);
  if (m[3] !== undefined) {
    const total = Number(m[3]);
    return total > 0 ? clampPercent((value / total) * 100) : null;
  }
  return clampPercent(value);
}

/**
 * Every progress reading in the text, in order. Segments are split at "\r"
 * and "\n" (tqdm separates updates with "\r"); the last segment counts only
 * for tqdm (whose newest update is unterminated by design).
 */
export function scanProgress(text: string): ProgressReading[] {
  const out: ProgressReading[] = [];
  const segments = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < segments.length; i++) {
    const raw = segments[i]!;
    const terminated = i < segments.length - 1;
    if (raw.length === 0) continue;
    const position = raw.match(CURSOR_UP)?.length ?? 0;
    const seg = raw.replace(ANSI, '');
    if (terminated) {
      const m = MARKER.exec(seg);
      if (m) {
        const percent = markerPercent(m);
        if (percent !== null) out.push({ percent, rank: 0 });
        continue;
      }
    }
    const t = TQDM.exec(seg);
    if (t) {
      // n/total is exact where the percentage is rounded ("100%" at 99.6%); unit-scaled counts ("2.50k") are not plain numbers.
      const n = t[2] === undefined ? NaN : Number(t[2]);
      const total = t[3] === undefined ? NaN : Number(t[3]);
      const percent = total > 0 && n <= total ? clampPercent((n / total) * 100) : clampPercent(Number(t[1]));
      if (percent !== null) out.push({ percent, rank: 1 + position });
    }
  }
  return out;
}

/** The best-ranked source's last reading, or null. */
export function bestProgress(text: string, atMostRank = Infinity): ProgressReading | null {
  let best: ProgressReading | null = null;
  for (const r of scanProgress(text)) {
    if (r.rank > atMostRank) continue;
    if (best === null || r.rank <= best.rank) best = r;
  }
  return best;
}

/** The last progress the text reports, 0-100, from its best-ranked source; null when it reports none. */
export function parseProgress(text: string): number | null {
  return bestProgress(text)?.percent ?? null;
}

/**
 * The text of a log's tail as read from `offset`: when the read did not start
 * at the beginning of the file its first line is cut (a "37%" read as "7%"),
 * so it is dropped.
 */
export function tailText(buf: Buffer, offset: number): string {
  const text = buf.toString('utf8');
  if (offset === 0) return text;
  const cut = text.search(/[\r\n]/);
  return cut < 0 ? '' : text.slice(cut + 1);
}

export interface ProgressTrackerDeps {
  jobs: JobStore;
  log: Logger;
  /** A session for the cluster, when refresh is called without one. */
  session?: (cluster: ClusterRecord) => Promise<RemoteSession>;
  onChanged: (job: JobInfo) => void;
  /** Jobs read per refresh call (round robin). Default 4. */
  maxJobsPerCall?: number;
  /** A job's log is read at most this often. Default 30 s. */
  minIntervalMs?: number;
  /** How much of each log's end is read. Default 8 KiB. */
  tailBytes?: number;
  now?: () => number;
}

interface Tracked {
  lastReadAt: number;
  /** Sizes at the last read, per path: an unchanged file is not read again. */
  sizes: Map<string, number>;
  /** The best source rank this job has shown (see the file comment). */
  rank: number;
}

/**
 * Reads running jobs' progress from the last bytes of their logs, a few jobs
 * per call and each at most every 30 s, so a hundred running jobs cost a
 * handful of SFTP reads per poll. Called from the poller's cycle.
 */
export class ProgressTracker {
  private readonly tracked = new Map<string, Tracked>();
  /** Jobs seen running that ended and still need their last read. */
  private readonly finals = new Set<string>();
  private readonly maxJobs: number;
  private readonly minIntervalMs: number;
  private readonly tailBytes: number;
  private readonly now: () => number;

  constructor(private readonly d: ProgressTrackerDeps) {
    this.maxJobs = d.maxJobsPerCall ?? 4;
    this.minIntervalMs = d.minIntervalMs ?? 30_000;
    this.tailBytes = d.tailBytes ?? 8192;
    this.now = d.now ?? Date.now;
  }

  /**
   * `jobs` are one cluster's active jobs as the poll cycle started (their
   * current records are re-read here). Running ones are read round robin;
   * jobs that ended since get one last read: a COMPLETED job that reported
   * progress ends at 100, others keep their last value. Never throws: a log
   * that cannot be read leaves the progress as it was.
   */
  async refresh(cluster: ClusterRecord, jobs: JobInfo[], session?: RemoteSession): Promise<void> {
    const now = this.now();
    const current = new Map<string, JobInfo>();
    for (const j of jobs) {
      const fresh = this.d.jobs.find(j.id);
      if (fresh && fresh.cluster === cluster.name && fresh.array === null) current.set(fresh.id, fresh);
    }
    for (const id of this.finals) {
      const fresh = current.has(id) ? undefined : this.d.jobs.find(id);
      if (fresh && fresh.cluster === cluster.name) current.set(id, fresh);
    }
    const ended: JobInfo[] = [];
    const running: JobInfo[] = [];
    for (const j of current.values()) {
      if (j.terminal) {
        // Only jobs that ran can have progress to finish.
        if (j.startTime !== null || this.finals.has(j.id) || this.tracked.has(j.id)) ended.push(j);
        else this.forget(j.id);
      } else if (j.state === 'RUNNING') {
        const t = this.tracked.get(j.id);
        if (!t || now - t.lastReadAt >= this.minIntervalMs) running.push(j);
      }
    }
    running.sort((a, b) => (this.tracked.get(a.id)?.lastReadAt ?? 0) - (this.tracked.get(b.id)?.lastReadAt ?? 0));
    const batch = [...ended, ...running].slice(0, this.maxJobs);
    for (const j of ended) if (!batch.includes(j)) this.finals.add(j.id);
    if (batch.length === 0) return;
    let s = session;
    if (!s) {
      if (!this.d.session) return;
      try {
        s = await this.d.session(cluster);
      } catch (err) {
        this.d.log.debug('progress: no session', { cluster: cluster.name, error: (err as Error).message });
        return;
      }
    }
    const remote = s;
    await Promise.all(batch.map((j) => this.readJob(j, remote, now)));
  }

  /** Drops what is remembered of a job (e.g. when its record is deleted). */
  forget(jobId: string): void {
    this.tracked.delete(jobId);
    this.finals.delete(jobId);
  }

  private async readJob(job: JobInfo, s: RemoteSession, now: number): Promise<void> {
    const t = this.tracked.get(job.id) ?? { lastReadAt: 0, sizes: new Map<string, number>(), rank: Infinity };
    t.lastReadAt = now;
    this.tracked.set(job.id, t);
    const paths = [...new Set([logPath(job, 'stdout'), logPath(job, 'stderr')].filter((p): p is string => p !== null))];
    let best: (ProgressReading & { mtime: number }) | null = null;
    try {
      for (const path of paths) {
        let st: { size: number; mtime: number };
        try {
          st = await s.stat(path);
        } catch (err) {
          if (isMissingRemoteFile(err)) continue;
          throw err;
        }
        // Unchanged since the last read: nothing new to find (a final read looks anyway).
        if (!job.terminal && t.sizes.get(path) === st.size) continue;
        t.sizes.set(path, st.size);
        if (st.size === 0) continue;
        const offset = Math.max(0, st.size - this.tailBytes);
        const buf = await s.readRange(path, offset, st.size - offset);
        const r = bestProgress(tailText(buf, offset), t.rank);
        // Between the two files, the better source, then the one written last.
        if (r && (best === null || r.rank < best.rank || (r.rank === best.rank && st.mtime >= best.mtime))) best = { ...r, mtime: st.mtime };
      }
    } catch (err) {
      this.d.log.debug('progress: log unreadable', { job: job.id, error: (err as Error).message });
    }
    let progress = job.progress;
    if (best) {
      t.rank = Math.min(t.rank, best.rank);
      progress = best.percent;
    }
    if (job.terminal) {
      if (job.state === 'COMPLETED' && progress !== null) progress = 100;
      this.forget(job.id);
    }
    if (progress !== job.progress) {
      const changed = this.d.jobs.update(job.id, { progress });
      if (changed) this.d.onChanged(changed);
    }
  }
}
