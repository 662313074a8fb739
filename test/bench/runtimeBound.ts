// How far can the runtime features go on a trace? An optimistic bound for the
// replay of `slurm-ml runtime evaluate`: k-fold cross-validation over ALL the
// trace's jobs in random folds, so each job is predicted by a model that saw
// jobs submitted after it, including the same user's neighbours. The replay
// only ever sees the past, so it cannot be expected to beat this figure; when
// the bound misses a goal, the features (what is known at submit) are what is
// missing, not training. Prints the p50 MAE beside the last-2 baseline.
//
//   npm run runtime:bound -- --trace FILE [--format swf|sacct] [--folds 5]
//                            [--trees 300] [--leaves 63] [--min-leaf 20]
import { parseArgs } from 'node:util';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../daemon/runtime/features';
import { trainQuantileGbdt } from '../../daemon/runtime/gbdt';
import { replayFeatures } from '../../daemon/runtime/replay';
import { readTrace } from '../../daemon/runtime/traces';

const { values } = parseArgs({
  options: {
    trace: { type: 'string' },
    format: { type: 'string' },
    folds: { type: 'string', default: '5' },
    trees: { type: 'string', default: '300' },
    leaves: { type: 'string', default: '63' },
    'min-leaf': { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
  },
});

function int(v: string | undefined, name: string, min: number): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return x;
}

async function main(): Promise<void> {
  if (!values.trace) throw new Error('--trace FILE is required');
  if (values.format !== undefined && values.format !== 'swf' && values.format !== 'sacct') throw new Error('--format is swf or sacct');
  const folds = int(values.folds, '--folds', 2);
  const trees = int(values.trees, '--trees', 1);
  const maxLeaves = int(values.leaves, '--leaves', 2);
  const minSamplesLeaf = int(values['min-leaf'], '--min-leaf', 1);
  const trace = await readTrace(values.trace, values.format ? { format: values.format } : {});
  const f = replayFeatures(trace.jobs, trace.info.utcOffsetSeconds);
  const n = f.jobs.length;
  const d = FEATURE_COUNT;
  // A fixed linear congruential sequence: the same folds for the same seed.
  let s = int(values.seed, '--seed', 0) >>> 0;
  const fold = Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % folds;
  });
  const rows = (idx: number[]) => {
    const X = new Float64Array(idx.length * d);
    idx.forEach((i, r) => X.set(f.X.subarray(i * d, (i + 1) * d), r * d));
    return X;
  };
  let modelError = 0;
  let lastTwoError = 0;
  for (let k = 0; k < folds; k++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === k ? test : train).push(i);
    const model = trainQuantileGbdt(
      { n: train.length, d, X: rows(train), y: Float64Array.from(train, (i) => Math.log(f.jobs[i]!.runtime)), featureNames: [...FEATURE_NAMES] },
      { quantiles: [0.5], trees, maxLeaves, minSamplesLeaf },
    );
    const p = model.predict(rows(test), test.length);
    test.forEach((i, r) => {
      modelError += Math.abs(Math.exp(p[r]!) - f.jobs[i]!.runtime);
      lastTwoError += Math.abs(f.lastTwo[i]! - f.jobs[i]!.runtime);
    });
    process.stderr.write(`fold ${k + 1}/${folds}\n`);
  }
  const mae = modelError / n / 60;
  const l2 = lastTwoError / n / 60;
  console.log(`${values.trace.split('/').pop()}: ${n} jobs, ${folds}-fold random cross-validation, ${trees} trees × ${maxLeaves} leaves (≥ ${minSamplesLeaf} jobs)`);
  console.log(`  p50 MAE ${mae.toFixed(2)} min   last-2 MAE ${l2.toFixed(2)} min   ratio ${(mae / l2).toFixed(3)} (the evaluate goal: ≤ 0.8)`);
}

main().catch((err: unknown) => {
  console.error(`runtime bound: ${(err as Error).message}`);
  process.exit(2);
});
