// Gives the test cluster's user a history of finished jobs in accounting, for
// the tests that train a runtime model: a fresh cluster (up.sh with WIPE=1, or
// a new machine) has none, and a model needs some. Each such test calls
// ensureFinishedJobs() first; it counts the user's finished jobs as sacct
// shows them and submits one array of short jobs (1–2 s each, as the user,
// over the local SLURM commands) only for what is missing, then waits until
// accounting lists them. A cluster that already has the jobs costs one sacct.
//
// The daemons those tests start are told, through SLURM_ML_RUNTIME_MIN_JOBS,
// to train on TEST_MIN_TRAINING_JOBS jobs instead of the product's 200: the
// tests check that training, gating and serving work on the cluster's own
// accounting, not how good a model of sixty sleeps is.
//
//   node --import tsx test/cluster/history.ts [N]   (as root, on the cluster's host)
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadClusterEnv } from '../integration/clusterEnv';

/** What the runtime tests set SLURM_ML_RUNTIME_MIN_JOBS to. */
export const TEST_MIN_TRAINING_JOBS = 50;
/** Finished jobs the runtime tests make sure of: the minimum and a few more (dashboard requests ask for 50 rows). */
export const TEST_HISTORY_JOBS = 60;
/** The environment a daemon that trains in a test needs. */
export const TEST_RUNTIME_ENV = { SLURM_ML_RUNTIME_MIN_JOBS: String(TEST_MIN_TRAINING_JOBS) } as const;

const ENDED_WITH_RUNTIME = new Set(['COMPLETED', 'FAILED', 'TIMEOUT', 'OUT_OF_MEMORY']);

/** The user's jobs (array tasks counted one by one) that ended after running, as the daemon would read them. */
export function finishedJobs(user: string): number {
  const out = execFileSync(
    'sacct',
    ['--noheader', '--parsable2', '-X', '-u', user, '-S', '2000-01-01', '-E', 'now', '--format=State,ElapsedRaw'],
    { encoding: 'utf8' },
  );
  let n = 0;
  for (const line of out.split('\n')) {
    const [state, elapsed] = line.split('|');
    if (state && ENDED_WITH_RUNTIME.has(state.split(' ')[0]!) && Number(elapsed) > 0) n++;
  }
  return n;
}

/**
 * Makes sure `user` has at least `n` finished jobs in accounting; returns how
 * many it submitted (0 when there were enough).
 */
export async function ensureFinishedJobs(n = TEST_HISTORY_JOBS, log: (line: string) => void = () => {}): Promise<number> {
  const env = loadClusterEnv();
  const have = finishedJobs(env.user);
  if (have >= n) return 0;
  const missing = n - have;
  log(`${env.user} has ${have} finished jobs in accounting; submitting ${missing} short ones`);
  const script = '#!/bin/sh\nsleep $((1 + SLURM_ARRAY_TASK_ID % 2))\n';
  const args = [
    '-u', env.user, '--', 'sbatch', '--parsable', `--array=1-${missing}`, '--job-name=seed-history',
    `--partition=${env.defaultPartition ?? 'debug'}`, '--time=1', '--mem=64M', '--output=/dev/null', '--chdir=/tmp',
  ];
  const id = execFileSync('runuser', args, { input: script, encoding: 'utf8' }).trim().split(';')[0]!;
  // Two at a time on the test node: about 0.8 s a job, with room for a busy machine.
  const started = Date.now();
  const deadline = started + 60_000 + missing * 5_000;
  while (finishedJobs(env.user) < n) {
    if (Date.now() > deadline) {
      throw new Error(`array job ${id}: ${env.user} still has ${finishedJobs(env.user)} of ${n} finished jobs in accounting after ${Math.round((Date.now() - started) / 1000)} s`);
    }
    await sleep(2_000);
  }
  log(`${env.user} has ${finishedJobs(env.user)} finished jobs in accounting (array job ${id})`);
  return missing;
}

if (process.argv[1] && /history\.ts$/.test(process.argv[1])) {
  const n = process.argv[2] === undefined ? TEST_HISTORY_JOBS : Number(process.argv[2]);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`usage: history.ts [N]  (N: a whole number of jobs, got "${process.argv[2]}")`);
    process.exit(2);
  }
  ensureFinishedJobs(n, (l) => console.error(`history: ${l}`)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`history: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
