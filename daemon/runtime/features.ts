// Features of a job for runtime prediction: ONE definition for training
// (the replay) and for serving (the daemon predicting a job it is about to
// submit). A job's features come from its request, its submit time and the
// history known at its submit time (JobHistory, fed only with jobs that ended
// before). Missing values are NaN (the trainer learns where they go).
import type { Activity, JobHistory } from './history';
import { appToken } from './history';
import type { JobRecord } from './traces';

/** The job as it is when submitted: no runtime, no end. */
export type JobRequest = Omit<JobRecord, 'runtime' | 'start' | 'end' | 'state' | 'exit'>;

export interface FeatureOptions {
  /** Seconds east of UTC, for hour of day and day of week (the cluster's zone). */
  utcOffsetSeconds?: number;
  /**
   * The user's submits and jobs in flight as of the job's submit, when `history`
   * holds only ended jobs (serving: see servingActivity in history.ts).
   */
  activity?: Activity;
}

export const FEATURE_NAMES = [
  'log_req',
  'log_cpus',
  'log_nodes',
  'log_mem_mb',
  'gpus',
  'cat_partition',
  'cat_qos',
  'cat_account',
  'cat_user',
  'cat_app',
  'hour',
  'dow',
  'u_count',
  'u_last1',
  'u_last2',
  'u_mean2',
  'u_last2_capped',
  'u_ewma',
  'u_mean_log',
  'u_std_log',
  'u_med_ratio',
  'u_ratio_x_req',
  'u_since_end',
  'u_since_submit',
  'u_inflight',
  'u_last_req_delta',
  'u_prev_state',
  'u_prev_elapsed',
  'u_prev_req_delta',
  'ua_count',
  'ua_last1',
  'ua_last2',
  'ua_mean2',
  'ua_ewma',
  'ua_mean_log',
  'ua_ratio_x_req',
  'ur_count',
  'ur_last1',
  'ur_mean2',
  'ur_ewma',
  'u_med5',
  'u_max5',
  'u_min5',
  'u_hit_limit',
  'ua_med5',
  'ua_max5',
  'ua_hit_limit',
  'uac_count',
  'uac_last1',
  'uac_mean2',
  'ua_last1_ratio',
] as const;

export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;

/** Categorical text as a number in [0, 1) (FNV-1a): stable across training and serving, no vocabulary to ship. */
export function hashCategory(text: string | null): number {
  if (text === null || text === '') return NaN;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}

const log = (x: number | null | undefined): number => (x !== null && x !== undefined && x > 0 ? Math.log(x) : NaN);
const log1p = (x: number): number => (Number.isFinite(x) && x >= 0 ? Math.log1p(x) : NaN);

/**
 * Writes the job's features into `out` at `offset` (FEATURE_COUNT values).
 * `history` must hold exactly the jobs that ended before `job.submit`.
 */
export function writeFeatures(job: JobRequest, history: JobHistory, out: Float64Array, offset: number, options: FeatureOptions = {}): void {
  const logReq = log(job.requestedTime);
  const local = job.submit + (options.utcOffsetSeconds ?? 0);
  const u = history.user(job.user);
  const ua = history.userApp(job);
  const ur = history.userReq(job);
  const uac = history.userAppCpus(job);
  const u5 = u.recentStats();
  const ua5 = ua.recentStats();
  const act = options.activity ?? history.activityOf(job.user, job.submit);
  const sinceEnd = u.count > 0 ? job.submit - u.lastEnd : NaN;
  const v: number[] = [
    logReq,
    log(job.cpus),
    log(job.nodes),
    log(job.memMB),
    job.gpus ?? NaN,
    hashCategory(job.partition),
    hashCategory(job.qos),
    hashCategory(job.account),
    hashCategory(job.user),
    hashCategory(appToken(job.jobName)),
    Math.floor((((local % 86400) + 86400) % 86400) / 3600),
    // 1970-01-01 was a Thursday: 0 = Monday.
    (((Math.floor(local / 86400) + 3) % 7) + 7) % 7,
    log1p(u.count),
    u.last1,
    u.last2,
    u.mean2(),
    Number.isNaN(logReq) ? u.mean2() : Math.min(u.mean2(), logReq),
    u.ewma,
    u.meanLog(),
    u.stdLog(),
    u.medianRatio(),
    logReq + u.medianRatio(),
    log1p(sinceEnd),
    log1p(act.sinceSubmit),
    log1p(act.inFlight),
    logReq - u.lastReq,
    act.prevState,
    log1p(act.prevElapsed),
    logReq - act.prevReq,
    log1p(ua.count),
    ua.last1,
    ua.last2,
    ua.mean2(),
    ua.ewma,
    ua.meanLog(),
    logReq + ua.medianRatio(),
    log1p(ur.count),
    ur.last1,
    ur.mean2(),
    ur.ewma,
    u5.median,
    u5.max,
    u5.min,
    u.hitLimit,
    ua5.median,
    ua5.max,
    ua.hitLimit,
    log1p(uac.count),
    uac.last1,
    uac.mean2(),
    ua.last1 - ua.lastReq,
  ];
  for (let i = 0; i < FEATURE_COUNT; i++) {
    const x = v[i] as number;
    out[offset + i] = Number.isFinite(x) ? x : NaN;
  }
}

/** One job's features (serving). */
export function featuresOf(job: JobRequest, history: JobHistory, options: FeatureOptions = {}): Float64Array {
  const out = new Float64Array(FEATURE_COUNT);
  writeFeatures(job, history, out, 0, options);
  return out;
}
