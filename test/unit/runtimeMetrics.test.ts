// Runtime-prediction metrics on arrays small enough to check by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intervalMetrics, median, pointMetrics, runtimeGoals } from '../../daemon/runtime/metrics';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} vs ${b}`);

test('MAE, median absolute error, under-prediction, accuracy', () => {
  // errors 60, 120, 0, 600 s; pred < actual for the 1st and 4th
  const m = pointMetrics([60, 360, 600, 600], [120, 240, 600, 1200]);
  assert.equal(m.n, 4);
  close(m.maeMinutes, (60 + 120 + 0 + 600) / 4 / 60);
  close(m.medianAbsErrorMinutes, (60 + 120) / 2 / 60);
  close(m.underRate, 0.5);
  close(m.accuracy, (0.5 + 240 / 360 + 1 + 0.5) / 4);
  assert.ok(Number.isNaN(pointMetrics([], []).maeMinutes));
  assert.throws(() => pointMetrics([1], [1, 2]), /length/);
});

test('interval coverage: inside includes both ends', () => {
  const m = intervalMetrics([10, 10, 10, 10, 10], [100, 100, 100, 100, 100], [10, 100, 5, 101, 50]);
  close(m.coverage, 3 / 5);
  close(m.upperUnderRate, 1 / 5);
  close(m.belowLowerRate, 1 / 5);
  close(m.meanWidthRatio, 10);
});

test('median', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('goals against last-2', () => {
  const last2 = { n: 1, maeMinutes: 100, medianAbsErrorMinutes: 0, underRate: 0.5, accuracy: 0.5 };
  const good = runtimeGoals(
    { n: 1, maeMinutes: 80, medianAbsErrorMinutes: 0, underRate: 0.5, accuracy: 0.55 },
    { n: 1, upperUnderRate: 0.1, belowLowerRate: 0.1, coverage: 0.8, meanWidthRatio: 5 },
    last2,
  );
  assert.deepEqual(good.map((g) => g.ok), [true, true, true, true]);
  const bad = runtimeGoals(
    { n: 1, maeMinutes: 80.1, medianAbsErrorMinutes: 0, underRate: 0.5, accuracy: 0.549 },
    { n: 1, upperUnderRate: 0.11, belowLowerRate: 0.02, coverage: 0.87, meanWidthRatio: 5 },
    last2,
  );
  assert.deepEqual(bad.map((g) => g.ok), [false, false, false, false]);
  assert.deepEqual(bad.map((g) => g.name), ['accuracy', 'mae', 'p90_under', 'coverage_p10_p90']);
});
