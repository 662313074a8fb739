// Estimate warnings and the expected start as sbatch --test-only reports it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitWarnings, parseTestOnly } from '../../daemon/runtime/service';
import { fixture } from '../fixtures/slurm/fixtures';

test('the expected start is read from a real `sbatch --test-only` answer', () => {
  // Recorded from the local cluster (test/fixtures/slurm/sbatch-test-only.stderr.txt).
  const start = parseTestOnly(fixture('sbatch-test-only.stderr.txt'));
  assert.match(start ?? '', /^2026-11-22T\d\d:\d\d:35\.000Z$/);
  assert.equal(parseTestOnly('sbatch: error: Batch job submission failed: Invalid partition name specified'), null);
});

test('a limit below p90 is a TIMEOUT risk with a suggested limit; far above 4 × p90 an over-request', () => {
  const [risk] = limitWarnings(30 * 60, 45 * 60);
  assert.equal(risk?.kind, 'timeout-risk');
  assert.equal(risk?.suggestedLimit, '00:54:00', 'p90 plus 20 %, in whole minutes');
  assert.match(risk!.message, /00:30:00 is below the p90 estimate 00:45:00/);
  const [over] = limitWarnings(10 * 3600, 60 * 60);
  assert.equal(over?.kind, 'over-request');
  assert.deepEqual(limitWarnings(2 * 3600, 60 * 60), [], 'between p90 and 4 × p90 nothing is said');
  assert.deepEqual(limitWarnings(null, 60), []);
  assert.deepEqual(limitWarnings(60, null), []);
});
