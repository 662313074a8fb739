// Accuracy of runtime predictions, as in the notes' evaluation protocol:
// MAE, median absolute error, share under-predicted, accuracy = mean of
// min(pred, actual) / max(pred, actual), and for intervals the share of
// actual runtimes inside [p10, p90] and above p90.

export interface PointMetrics {
  n: number;
  /** Mean absolute error, minutes. */
  maeMinutes: number;
  /** Median absolute error, minutes. */
  medianAbsErrorMinutes: number;
  /** Share of jobs whose prediction is below their runtime. */
  underRate: number;
  /** Mean of min(pred, actual) / max(pred, actual). */
  accuracy: number;
}

export interface IntervalMetrics {
  n: number;
  /** Share of runtimes above the upper bound (p90): ~0.10 when calibrated. */
  upperUnderRate: number;
  /** Share of runtimes below the lower bound (p10). */
  belowLowerRate: number;
  /** Share inside [lower, upper] (both ends included). */
  coverage: number;
  /** Mean upper / lower, a measure of interval width. */
  meanWidthRatio: number;
}

/** Predictions and actual runtimes in seconds, same length. */
export function pointMetrics(pred: ArrayLike<number>, actual: ArrayLike<number>): PointMetrics {
  const n = checkLengths(pred, actual);
  if (n === 0) return { n, maeMinutes: NaN, medianAbsErrorMinutes: NaN, underRate: NaN, accuracy: NaN };
  const abs = new Float64Array(n);
  let sumAbs = 0;
  let under = 0;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const p = pred[i] as number;
    const a = actual[i] as number;
    abs[i] = Math.abs(p - a);
    sumAbs += abs[i] as number;
    if (p < a) under++;
    const hi = Math.max(p, a);
    acc += hi > 0 ? Math.max(0, Math.min(p, a)) / hi : 1;
  }
  return { n, maeMinutes: sumAbs / n / 60, medianAbsErrorMinutes: median(abs) / 60, underRate: under / n, accuracy: acc / n };
}

export function intervalMetrics(lower: ArrayLike<number>, upper: ArrayLike<number>, actual: ArrayLike<number>): IntervalMetrics {
  const n = checkLengths(lower, actual);
  checkLengths(upper, actual);
  if (n === 0) return { n, upperUnderRate: NaN, belowLowerRate: NaN, coverage: NaN, meanWidthRatio: NaN };
  let above = 0;
  let below = 0;
  let width = 0;
  for (let i = 0; i < n; i++) {
    const a = actual[i] as number;
    const lo = lower[i] as number;
    const hi = upper[i] as number;
    if (a > hi) above++;
    else if (a < lo) below++;
    width += lo > 0 ? hi / lo : NaN;
  }
  return { n, upperUnderRate: above / n, belowLowerRate: below / n, coverage: (n - above - below) / n, meanWidthRatio: width / n };
}

/** Median of the values (the mean of the middle two for an even count); NaN when empty. */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const h = n >> 1;
  return n % 2 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2;
}

function checkLengths(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`length mismatch: ${a.length} vs ${b.length}`);
  return a.length;
}

export interface Goal {
  name: string;
  /** What is required, in words. */
  target: string;
  value: number;
  ok: boolean;
}

/** The goals for the model, judged against the last-2 baseline. */
export function runtimeGoals(model: PointMetrics, interval: IntervalMetrics, lastTwo: PointMetrics): Goal[] {
  return [
    {
      name: 'accuracy',
      target: `>= last-2 + 0.05 (${fmt(lastTwo.accuracy + 0.05, 3)})`,
      value: model.accuracy,
      ok: model.accuracy >= lastTwo.accuracy + 0.05,
    },
    {
      name: 'mae',
      target: `<= 0.8 x last-2 (${fmt(0.8 * lastTwo.maeMinutes, 1)} min)`,
      value: model.maeMinutes,
      ok: model.maeMinutes <= 0.8 * lastTwo.maeMinutes,
    },
    { name: 'p90_under', target: '<= 0.10', value: interval.upperUnderRate, ok: interval.upperUnderRate <= 0.1 },
    { name: 'coverage_p10_p90', target: 'in [0.77, 0.83]', value: interval.coverage, ok: interval.coverage >= 0.77 && interval.coverage <= 0.83 },
  ];
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}
