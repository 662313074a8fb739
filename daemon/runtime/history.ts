// What is known about a user's past jobs at a given moment: an incremental
// structure fed with jobs as they END (never before), keyed by user, by
// user + job name and by user + requested time. Features read it at a job's
// submit time, so they can only see jobs that ended before that moment; the
// replay and the live daemon feed it the same way.
import type { JobRecord } from './traces';

/** Runtimes are kept as natural logs of seconds. */
export class KeyStats {
  count = 0;
  /** Log runtime of the last job to end, and of the one before it. */
  last1 = NaN;
  last2 = NaN;
  /** Runtime in seconds of the same two (for the last-2 baseline, a mean of seconds). */
  last1Seconds = NaN;
  last2Seconds = NaN;
  sumLog = 0;
  sumLog2 = 0;
  /** Exponentially weighted mean of log runtimes (recent jobs weigh more). */
  ewma = NaN;
  lastEnd = NaN;
  /** Log requested time of the last job to end (NaN when it had none). */
  lastReq = NaN;
  /** Last RATIO_WINDOW values of log(runtime / requested). */
  readonly ratios: number[] = [];
  /** Last RECENT log runtimes, oldest first. */
  readonly recent: number[] = [];
  /** Exponentially weighted share of jobs that ran to (or past) 95 % of their limit. */
  hitLimit = NaN;

  add(job: JobRecord): void {
    const l = Math.log(job.runtime);
    this.count++;
    this.last2 = this.last1;
    this.last1 = l;
    this.last2Seconds = this.last1Seconds;
    this.last1Seconds = job.runtime;
    this.sumLog += l;
    this.sumLog2 += l * l;
    this.ewma = Number.isNaN(this.ewma) ? l : 0.7 * this.ewma + 0.3 * l;
    this.lastEnd = Number.isNaN(this.lastEnd) ? job.end : Math.max(this.lastEnd, job.end);
    this.lastReq = job.requestedTime !== null && job.requestedTime > 0 ? Math.log(job.requestedTime) : NaN;
    this.recent.push(l);
    if (this.recent.length > RECENT) this.recent.shift();
    if (job.requestedTime !== null && job.requestedTime > 0) {
      const hit = job.runtime >= 0.95 * job.requestedTime ? 1 : 0;
      this.hitLimit = Number.isNaN(this.hitLimit) ? hit : 0.8 * this.hitLimit + 0.2 * hit;
    }
    if (!Number.isNaN(this.lastReq)) {
      this.ratios.push(l - this.lastReq);
      if (this.ratios.length > RATIO_WINDOW) this.ratios.shift();
    }
  }

  /** Log of the mean of the last two runtimes (of the last one when only one). */
  mean2(): number {
    if (this.count === 0) return NaN;
    return Math.log(this.count === 1 ? this.last1Seconds : (this.last1Seconds + this.last2Seconds) / 2);
  }

  meanLog(): number {
    return this.count === 0 ? NaN : this.sumLog / this.count;
  }

  stdLog(): number {
    if (this.count < 2) return NaN;
    const m = this.sumLog / this.count;
    return Math.sqrt(Math.max(0, this.sumLog2 / this.count - m * m));
  }

  /** Median, min and max of the last RECENT log runtimes. */
  recentStats(): { median: number; min: number; max: number } {
    const m = this.recent.length;
    if (m === 0) return { median: NaN, min: NaN, max: NaN };
    const s = [...this.recent].sort((a, b) => a - b);
    const h = m >> 1;
    return { median: m % 2 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2, min: s[0] as number, max: s[m - 1] as number };
  }

  /** Median of the recent log(runtime / requested). */
  medianRatio(): number {
    if (this.ratios.length === 0) return NaN;
    const s = [...this.ratios].sort((a, b) => a - b);
    const h = s.length >> 1;
    return s.length % 2 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2;
  }
}

const RATIO_WINDOW = 20;
const RECENT = 5;
const EMPTY = new KeyStats();

/** User activity that is not about ended jobs: submits and jobs still in flight. */
interface UserActivity {
  lastSubmit: number;
  inFlight: number;
  /** The user's last submitted job: when it started and ended (Infinity while unknown), its log requested time. */
  prevStart: number;
  prevEnd: number;
  prevReq: number;
}

/** What the features read of a user's activity at a moment (activityOf). */
export interface Activity {
  sinceSubmit: number;
  inFlight: number;
  prevState: number;
  prevElapsed: number;
  prevReq: number;
}

/** A job as the activity features see it: start and end unknown (undefined) while pending or running. */
export type ActivityJob = Pick<JobRecord, 'user' | 'submit' | 'requestedTime'> & { start?: number; end?: number };

/**
 * The user's activity at `at` from their jobs submitted by then (ended or still in
 * flight), computed the way a replay computes it: every job fed to submitted() in
 * submit order, those ended by `at` to ended(). Serving uses this, since the
 * served history holds only ended jobs while training replays submits as well.
 */
export function servingActivity(user: string, jobs: readonly ActivityJob[], at: number): Activity {
  const h = new JobHistory();
  const mine = jobs.filter((j) => j.user === user && j.submit <= at).sort((a, b) => a.submit - b.submit);
  for (const j of mine) h.submitted(j);
  for (const j of mine) if (j.end !== undefined && j.end <= at) h.endedActivity(j.user);
  return h.activityOf(user, at);
}

export class JobHistory {
  private readonly byUser = new Map<string, KeyStats>();
  private readonly byUserApp = new Map<string, KeyStats>();
  private readonly byUserReq = new Map<string, KeyStats>();
  private readonly byUserAppCpus = new Map<string, KeyStats>();
  private readonly activity = new Map<string, UserActivity>();
  /** End time of the latest job fed to ended(); features for a job submitted earlier would leak. */
  private clock = -Infinity;
  /** Jobs fed to ended(). */
  endedCount = 0;

  /** The job was submitted (call in submit order, before reading its features is fine either way). */
  submitted(job: Pick<JobRecord, 'user' | 'submit' | 'requestedTime'> & { start?: number; end?: number }): void {
    const a = this.activity.get(job.user) ?? { lastSubmit: NaN, inFlight: 0, prevStart: Infinity, prevEnd: Infinity, prevReq: NaN };
    a.lastSubmit = Number.isNaN(a.lastSubmit) ? job.submit : Math.max(a.lastSubmit, job.submit);
    a.inFlight++;
    // Read only through activityOf(user, at), which compares them with `at`: what was visible then (squeue).
    a.prevStart = job.start ?? Infinity;
    a.prevEnd = job.end ?? Infinity;
    a.prevReq = job.requestedTime !== null && job.requestedTime > 0 ? Math.log(job.requestedTime) : NaN;
    this.activity.set(job.user, a);
  }

  /** The job ended: its runtime is known from now on. Call in end order. */
  ended(job: JobRecord): void {
    stats(this.byUser, job.user).add(job);
    stats(this.byUserApp, userAppKey(job)).add(job);
    stats(this.byUserReq, userReqKey(job)).add(job);
    stats(this.byUserAppCpus, userAppCpusKey(job)).add(job);
    this.endedActivity(job.user);
    this.clock = Math.max(this.clock, job.end);
    this.endedCount++;
  }

  /** Only the activity part of ended(): one fewer job in flight. */
  endedActivity(user: string): void {
    const a = this.activity.get(user);
    if (a !== undefined && a.inFlight > 0) a.inFlight--;
  }

  /** Latest end time fed so far. */
  get now(): number {
    return this.clock;
  }

  user(user: string): KeyStats {
    return this.byUser.get(user) ?? EMPTY;
  }

  userApp(job: Pick<JobRecord, 'user' | 'jobName'>): KeyStats {
    return this.byUserApp.get(userAppKey(job)) ?? EMPTY;
  }

  userAppCpus(job: Pick<JobRecord, 'user' | 'jobName' | 'cpus'>): KeyStats {
    return this.byUserAppCpus.get(userAppCpusKey(job)) ?? EMPTY;
  }

  userReq(job: Pick<JobRecord, 'user' | 'requestedTime'>): KeyStats {
    return this.byUserReq.get(userReqKey(job)) ?? EMPTY;
  }

  /**
   * At time `at`: seconds since the user's previous submit (NaN when none),
   * their jobs submitted but not ended, and the previous submitted job as
   * squeue shows it then: 0 ended, 1 running (with its elapsed time so far), 2 pending.
   */
  activityOf(user: string, at: number): Activity {
    const a = this.activity.get(user);
    if (a === undefined) return { sinceSubmit: NaN, inFlight: 0, prevState: NaN, prevElapsed: NaN, prevReq: NaN };
    const state = a.prevEnd < at ? 0 : a.prevStart <= at ? 1 : 2;
    return {
      sinceSubmit: Number.isNaN(a.lastSubmit) ? NaN : Math.max(0, at - a.lastSubmit),
      inFlight: a.inFlight,
      prevState: state,
      prevElapsed: state === 1 ? at - a.prevStart : NaN,
      prevReq: a.prevReq,
    };
  }

  /**
   * Baseline of Tsafrir, Etsion and Feitelson: the mean of the user's last two
   * runtimes (the last one alone when only one), in seconds; null without history.
   */
  lastTwo(user: string): number | null {
    const s = this.byUser.get(user);
    if (s === undefined || s.count === 0) return null;
    return s.count === 1 ? s.last1Seconds : (s.last1Seconds + s.last2Seconds) / 2;
  }
}

function stats(map: Map<string, KeyStats>, key: string): KeyStats {
  let s = map.get(key);
  if (s === undefined) {
    s = new KeyStats();
    map.set(key, s);
  }
  return s;
}

/**
 * Job names differ in numbers more often than in kind (`train-3`, `run_0042`):
 * numbers after a separator are dropped. Numbers after a letter stay (`a12`, `resnet50`).
 */
export function appToken(jobName: string): string {
  return jobName.replace(/(^|[^A-Za-z\d])\d+/g, '$1#').trim().toLowerCase();
}

function userAppKey(job: Pick<JobRecord, 'user' | 'jobName'>): string {
  return `${job.user}\u0000${appToken(job.jobName)}`;
}

function userReqKey(job: Pick<JobRecord, 'user' | 'requestedTime'>): string {
  return `${job.user}\u0000${job.requestedTime ?? 'none'}`;
}

function userAppCpusKey(job: Pick<JobRecord, 'user' | 'jobName' | 'cpus'>): string {
  return `${job.user}\u0000${appToken(job.jobName)}\u0000${job.cpus ?? 'none'}`;
}
