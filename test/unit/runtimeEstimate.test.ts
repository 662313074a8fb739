// Estimate warnings and the expected start as sbatch --test-only reports it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitWarnings, modelConsistentLimits, parseTestOnly, suggestedLimitSeconds } from '../../daemon/runtime/service';
import { fixture } from '../fixtures/slurm/fixtures';

test('the expected start is read from a real `sbatch --test-only` answer', () => {
  // Recorded from the local cluster (test/fixtures/slurm/sbatch-test-only.stderr.txt).
  const start = parseTestOnly(fixture('sbatch-test-only.stderr.txt'));
  assert.match(start ?? '', /^2026-11-22T\d\d:\d\d:35\.000Z$/);
  assert.equal(parseTestOnly('sbatch: error: Batch job submission failed: Invalid partition name specified'), null);
});

test('the start as other environments and releases print it', () => {
  // Recorded on the test cluster (22.05.8) with SLURM_TIME_FORMAT=relative in the user's environment:
  // no date, so nothing to read. sbatchTestOnlyCommand pins SLURM_TIME_FORMAT=standard for this reason.
  assert.equal(parseTestOnly('sbatch: Job 134 to start at 20:56:28 using 1 processors on nodes vm in partition debug\n'), null);
  // 25.05 names the cluster after the time (src/api/allocate.c: "Job %u to start at %s%s%s a using ...").
  const start = parseTestOnly('sbatch: Job 77 to start at 2026-12-07T21:00:00 on cluster hpc a using 4 processors on nodes n[1-2] in partition gpu\n');
  assert.match(start ?? '', /^2026-12-07T\d\d:00:00\.000Z$/);
});

test('a limit below p90 is a TIMEOUT risk with a suggested limit; far above 4 × p90 an over-request', () => {
  const [risk] = limitWarnings(30 * 60, 45 * 60);
  assert.equal(risk?.kind, 'timeout-risk');
  assert.equal(risk?.suggestedLimit, '00:54:00', 'p90 plus 20 %, in whole minutes');
  assert.match(risk!.message, /00:30:00 is below the p90 estimate 00:45:00/);
  const [over] = limitWarnings(10 * 3600, 60 * 60);
  assert.equal(over?.kind, 'over-request');
  assert.deepEqual(limitWarnings(2 * 3600, 60 * 60), [], 'between p90 and 4 × p90 nothing is said');
  // Limits are whole minutes: for a 13 s job the smallest one, 00:01:00, is what is suggested.
  const [short] = limitWarnings(30 * 60, 13);
  assert.equal(short?.kind, 'over-request');
  assert.equal(short?.suggestedLimit, '00:01:00');
  assert.deepEqual(limitWarnings(60, 13), [], 'the suggested limit itself draws no warning');
  // Nor do a few minutes more than needed: 15 minutes over the suggestion is where it starts.
  assert.deepEqual(limitWarnings(15 * 60, 13), [], '00:15:00 for a 13 s job: 14 minutes over');
  assert.equal(limitWarnings(16 * 60, 13)[0]?.kind, 'over-request');
  assert.deepEqual(limitWarnings(null, 60), []);
  assert.deepEqual(limitWarnings(60, null), []);
});

test('with a model, the suggested limit draws no warning once the script asks for it', async () => {
  // The model reads the limit: here its p90 is 5 % of whatever is asked (the cluster's jobs ran far under
  // their limits), or, for the second script, grows with the square root of it; for the third it is
  // 1.5 × the limit (jobs that ran past any limit, as on LANL-CM5's time-shared CM-5).
  const models = [(limit: number) => 0.05 * limit, (limit: number) => 40 * Math.sqrt(limit), (limit: number) => 1.5 * limit];
  const asked: number[][] = [];
  const limits = await modelConsistentLimits(
    models.map((m) => m(86_400)),
    async (rows, at) => {
      asked.push([...rows]);
      return rows.map((r, j) => models[r]!(at[j]!));
    },
  );
  // The plain suggestion for the first script would still be an over-request when applied.
  const plain = suggestedLimitSeconds(models[0]!(86_400));
  assert.equal(limitWarnings(plain, models[0]!(plain))[0]?.kind, 'over-request');
  for (const [i, m] of models.slice(0, 2).entries()) assert.deepEqual(limitWarnings(limits[i]!, m(limits[i]!)), [], `script ${i}: ${limits[i]} s`);
  assert.equal(limits[1], 14_160, 'p90 11,757 s at a day: 20 % more in whole minutes, which the model accepts');
  assert.equal(limits[2], suggestedLimitSeconds(1.5 * 86_400), 'no limit satisfies the third model: its plain suggestion, not an ever larger one');
  assert.deepEqual(asked.slice(1), asked.slice(1).map(() => [0]), 'settled scripts are not asked again');
  const warned = limitWarnings(86_400, models[0]!(86_400), limits[0]);
  assert.equal(warned[0]?.suggestedLimit, '00:06:00', 'p90 18 s at 6 minutes: the next step would save under 15 minutes');
});
