// Quantile gradient-boosted trees for runtime prediction, in plain TypeScript.
//
// Why our own: no npm package trains boosted trees at 100k rows (see
// shared/notes/runtime-prediction.md); a histogram trainer is small and fast.
// The design follows LightGBM's:
// - features are cut once into at most 255 quantile bins (+1 bin for NaN), so
//   split search scans a per-leaf histogram instead of sorted values;
// - trees grow leaf-wise (best gain first) up to maxLeaves; the larger child's
//   histogram is the parent's minus the smaller child's;
// - pinball loss: gradients are -alpha / 1-alpha with unit hessian for split
//   finding, and each leaf's output is then the alpha-quantile of the residuals
//   in it (a Newton step is meaningless for a loss with zero curvature);
// - NaN is a value: every split learns whether NaN rows go left or right.
// One ensemble per quantile. Thresholds and leaf values are float32 and inputs
// are rounded to float32 before comparing, so an ONNX export (float input)
// walks exactly the same paths as predict() here.
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { seededRandom } from '../util/random';

export interface Dataset {
  n: number;
  d: number;
  /** row-major n*d, NaN = missing */
  X: Float64Array;
  /** target: log runtime */
  y: Float64Array;
  featureNames: string[];
}

export interface TrainOptions {
  /** e.g. [0.1, 0.5, 0.9] */
  quantiles: number[];
  trees?: number;
  maxLeaves?: number;
  learningRate?: number;
  minSamplesLeaf?: number;
  /** ≤ 255 bins for non-missing values; NaN has a bin of its own */
  bins?: number;
  seed?: number;
  /** share of rows drawn (without replacement, seeded) for each tree */
  subsample?: number;
}

export interface QuantileModel {
  featureNames: string[];
  quantiles: number[];
  /** n×q predictions, row-major, in the target's scale, before calibration */
  predict(X: Float64Array, n: number): Float64Array;
  toJSON(): unknown;
}

export const GBDT_DEFAULTS = {
  trees: 200,
  maxLeaves: 31,
  learningRate: 0.05,
  minSamplesLeaf: 20,
  bins: 255,
  seed: 1,
  subsample: 1,
} as const;

/** Threshold of a split that sends every non-missing value left: finite so the model survives JSON, and ≥ every float32. */
const ALL_FINITE = 3.4028234663852886e38;
const MISSING_BIN = 255;
/** Histogram stride per feature: 256 bins × (gradient sum, count). */
const HSTRIDE = 512;
const MIN_GAIN = 1e-10;

/** One tree. Internal nodes are 0..k-1; a child < 0 is leaf ~child. A tree with no split has k = 0 and one leaf. */
export interface Tree {
  feature: Int32Array;
  /** float32 values: go left when fround(x) <= threshold */
  threshold: Float64Array;
  /** 1: NaN goes left */
  defaultLeft: Uint8Array;
  left: Int32Array;
  right: Int32Array;
  /** leaf outputs, learning rate included, float32 values */
  value: Float64Array;
}

export interface Ensemble {
  quantile: number;
  /** float32 starting value: the quantile of the training target */
  base: number;
  trees: Tree[];
}

const JSON_FORMAT = 'slurm-ml/quantile-gbdt';

class GbdtModel implements QuantileModel {
  constructor(
    readonly featureNames: string[],
    readonly quantiles: number[],
    readonly ensembles: Ensemble[],
  ) {}

  predict(X: Float64Array, n: number): Float64Array {
    const d = this.featureNames.length;
    if (X.length < n * d) throw new Error(`predict: X has ${X.length} values, expected ${n}×${d}`);
    // Float32 once, as onnxruntime sees the input.
    const xf = new Float32Array(X.subarray(0, n * d));
    const q = this.ensembles.length;
    const out = new Float64Array(n * q);
    for (let j = 0; j < q; j++) {
      const e = this.ensembles[j];
      for (let i = 0; i < n; i++) out[i * q + j] = e.base;
      for (const t of e.trees) {
        const { feature, threshold, defaultLeft, left, right, value } = t;
        if (feature.length === 0) {
          const v = value[0];
          for (let i = 0; i < n; i++) out[i * q + j] += v;
          continue;
        }
        for (let i = 0; i < n; i++) {
          const row = i * d;
          let node = 0;
          while (node >= 0) {
            const x = xf[row + feature[node]];
            const goLeft = x !== x ? defaultLeft[node] === 1 : x <= threshold[node];
            node = goLeft ? left[node] : right[node];
          }
          out[i * q + j] += value[~node];
        }
      }
    }
    return out;
  }

  toJSON(): unknown {
    return {
      format: JSON_FORMAT,
      version: 1,
      featureNames: this.featureNames,
      quantiles: this.quantiles,
      ensembles: this.ensembles.map((e) => ({
        quantile: e.quantile,
        base: e.base,
        trees: e.trees.map((t) => ({
          feature: Array.from(t.feature),
          threshold: Array.from(t.threshold),
          defaultLeft: Array.from(t.defaultLeft),
          left: Array.from(t.left),
          right: Array.from(t.right),
          value: Array.from(t.value),
        })),
      })),
    };
  }
}

/** The trees behind a model from this module, for the ONNX export. */
export function ensemblesOf(model: QuantileModel): Ensemble[] {
  if (model instanceof GbdtModel) return model.ensembles;
  // Same model through another copy of this module (e.g. ESM and CJS loads under tsx): go through its JSON.
  return (modelFromJSON(model.toJSON()) as GbdtModel).ensembles;
}

export function modelFromJSON(json: unknown): QuantileModel {
  const j = json as {
    format?: unknown;
    version?: unknown;
    featureNames?: unknown;
    quantiles?: unknown;
    ensembles?: Array<{ quantile: number; base: number; trees: Array<Record<string, number[]>> }>;
  };
  if (!j || j.format !== JSON_FORMAT || j.version !== 1) throw new Error('not a quantile GBDT model (format/version)');
  if (!Array.isArray(j.featureNames) || !Array.isArray(j.quantiles) || !Array.isArray(j.ensembles)) {
    throw new Error('quantile GBDT model: featureNames, quantiles and ensembles must be arrays');
  }
  const d = j.featureNames.length;
  const ensembles: Ensemble[] = j.ensembles.map((e) => ({
    quantile: Number(e.quantile),
    base: Number(e.base),
    trees: e.trees.map((t) => {
      const tree: Tree = {
        feature: Int32Array.from(t.feature),
        threshold: Float64Array.from(t.threshold),
        defaultLeft: Uint8Array.from(t.defaultLeft),
        left: Int32Array.from(t.left),
        right: Int32Array.from(t.right),
        value: Float64Array.from(t.value),
      };
      checkTree(tree, d);
      return tree;
    }),
  }));
  return new GbdtModel(j.featureNames.map(String), j.quantiles.map(Number), ensembles);
}

/** A corrupt file must fail here, not loop or read out of bounds in predict(). */
function checkTree(t: Tree, d: number): void {
  const k = t.feature.length;
  const leaves = t.value.length;
  if (t.threshold.length !== k || t.defaultLeft.length !== k || t.left.length !== k || t.right.length !== k || leaves !== k + 1) {
    throw new Error('quantile GBDT model: inconsistent tree arrays');
  }
  for (let i = 0; i < k; i++) {
    if (t.feature[i] < 0 || t.feature[i] >= d) throw new Error('quantile GBDT model: feature index out of range');
    for (const c of [t.left[i], t.right[i]]) {
      // Children point forward only, which rules out cycles.
      if (c >= 0 ? c <= i || c >= k : ~c >= leaves) throw new Error('quantile GBDT model: bad child index');
    }
  }
}

// ---------------------------------------------------------------------------
// Training

interface Binned {
  /** row-major n*d bin indices; MISSING_BIN for NaN */
  bins: Uint8Array;
  /** per feature: upper edge (float32) of each non-missing bin; the last is ALL_FINITE */
  edges: Float64Array[];
}

/** Upper bin edges from the (float32) values of one feature: equal-count bins, cut halfway between distinct values. */
function binEdges(values: Float64Array, maxBins: number): Float64Array {
  const m = values.length;
  if (m === 0) return Float64Array.of(ALL_FINITE);
  values.sort();
  const cuts: number[] = [];
  const cutAfter = (v: number) => {
    // First value above v; the cut sits between them.
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (values[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= m) return;
    let c = Math.fround((v + values[lo]) / 2);
    // Rounding to float32 may land on the upper value; then cut at the lower one.
    if (c >= values[lo]) c = v;
    if (cuts.length === 0 || c > cuts[cuts.length - 1]) cuts.push(c);
  };
  for (let k = 1; k < maxBins; k++) cutAfter(values[Math.min(m - 1, Math.floor((k * m) / maxBins))]);
  cuts.push(ALL_FINITE);
  return Float64Array.from(cuts);
}

function binData(data: Dataset, maxBins: number): Binned {
  const { n, d, X } = data;
  // Edges from at most 200k rows: beyond that quantiles hardly move and sorting costs.
  const stride = Math.max(1, Math.ceil(n / 200_000));
  const edges: Float64Array[] = [];
  const col = new Float64Array(Math.ceil(n / stride));
  for (let f = 0; f < d; f++) {
    let m = 0;
    for (let i = 0; i < n; i += stride) {
      const v = Math.fround(X[i * d + f]);
      if (v === v) col[m++] = v;
    }
    edges.push(binEdges(col.slice(0, m), maxBins));
  }
  const bins = new Uint8Array(n * d);
  for (let f = 0; f < d; f++) {
    const e = edges[f];
    const last = e.length - 1;
    for (let i = 0; i < n; i++) {
      const v = Math.fround(X[i * d + f]);
      if (v !== v) {
        bins[i * d + f] = MISSING_BIN;
        continue;
      }
      let lo = 0;
      let hi = last;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v <= e[mid]) hi = mid;
        else lo = mid + 1;
      }
      bins[i * d + f] = lo;
    }
  }
  return { bins, edges };
}

/** Alpha-quantile with linear interpolation; reorders a. Selection, not a sort: this runs for every leaf of every tree. */
function quantileOf(a: Float64Array, alpha: number): number {
  const m = a.length;
  if (m === 0) return 0;
  const pos = alpha * (m - 1);
  const lo = Math.floor(pos);
  select(a, lo);
  const v = a[lo];
  if (lo + 1 >= m || pos === lo) return v;
  // The next order statistic is the smallest value right of lo.
  let next = a[lo + 1];
  for (let i = lo + 2; i < m; i++) if (a[i] < next) next = a[i];
  return v + (pos - lo) * (next - v);
}

/** Quickselect (Hoare partition, median-of-three): a[k] becomes the k-th smallest, smaller ones before it, larger after. */
function select(a: Float64Array, k: number): void {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    const mid = (left + right) >> 1;
    // Median of three as pivot: sorted data (common for residuals late in training) stays O(n).
    let x = a[left];
    let y = a[mid];
    let z = a[right];
    if (x > y) [x, y] = [y, x];
    if (y > z) [y, z] = [z, y];
    if (x > y) [x, y] = [y, x];
    const pivot = y;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return;
  }
}

interface Split {
  gain: number;
  feature: number;
  bin: number;
  defaultLeft: boolean;
}

interface Leaf {
  start: number;
  end: number;
  hist: Float64Array;
  gradSum: number;
  split: Split | null;
  /** where this leaf hangs: parent internal node and side, or -1 for the root */
  parent: number;
  isLeft: boolean;
}

function histGradSum(h: Float64Array): number {
  let s = 0;
  for (let i = 0; i < HSTRIDE; i += 2) s += h[i];
  return s;
}

class TreeGrower {
  private readonly histPool: Float64Array[] = [];
  readonly order: Uint32Array;
  private readonly tmp: Uint32Array;

  constructor(
    private readonly b: Binned,
    n: number,
    private readonly d: number,
    private readonly maxLeaves: number,
    private readonly minLeaf: number,
  ) {
    this.order = new Uint32Array(n);
    this.tmp = new Uint32Array(n);
  }

  private takeHist(): Float64Array {
    const h = this.histPool.pop();
    if (h) {
      h.fill(0);
      return h;
    }
    return new Float64Array(this.d * HSTRIDE);
  }

  private buildHist(h: Float64Array, start: number, end: number, g: Float64Array): void {
    const { bins } = this.b;
    const d = this.d;
    const order = this.order;
    for (let k = start; k < end; k++) {
      const r = order[k];
      const gr = g[r];
      const base = r * d;
      for (let f = 0, o = 0; f < d; f++, o += HSTRIDE) {
        const idx = o + (bins[base + f] << 1);
        h[idx] += gr;
        h[idx + 1] += 1;
      }
    }
  }

  private bestSplit(h: Float64Array, G: number, C: number): Split | null {
    const minLeaf = this.minLeaf;
    const d = this.d;
    const parentScore = (G * G) / C;
    let best: Split | null = null;
    let bestGain = MIN_GAIN;
    for (let f = 0; f < d; f++) {
      const o = f * HSTRIDE;
      const nb = this.b.edges[f].length;
      const mg = h[o + (MISSING_BIN << 1)];
      const mc = h[o + (MISSING_BIN << 1) + 1];
      let lg = 0;
      let lc = 0;
      // Cut after bin b; the last b (everything non-missing left) only separates NaN from the rest.
      for (let bin = 0; bin < nb; bin++) {
        lg += h[o + (bin << 1)];
        lc += h[o + (bin << 1) + 1];
        if (lc === 0) continue;
        if (bin === nb - 1 && mc === 0) break;
        // NaN right.
        let rc = C - lc;
        if (lc >= minLeaf && rc >= minLeaf) {
          const rg = G - lg;
          const gain = (lg * lg) / lc + (rg * rg) / rc - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            // Without NaN here, unseen NaN follow the bigger side.
            best = { gain, feature: f, bin, defaultLeft: mc === 0 && lc >= rc };
          }
        }
        if (mc > 0) {
          // NaN left.
          const lc2 = lc + mc;
          rc = C - lc2;
          if (lc2 >= minLeaf && rc >= minLeaf) {
            const lg2 = lg + mg;
            const rg = G - lg2;
            const gain = (lg2 * lg2) / lc2 + (rg * rg) / rc - parentScore;
            if (gain > bestGain) {
              bestGain = gain;
              best = { gain, feature: f, bin, defaultLeft: true };
            }
          }
        }
      }
    }
    return best;
  }

  /** Stable in-place partition of order[start,end) by the split; returns the first index of the right part. */
  private partition(start: number, end: number, s: Split): number {
    const { bins } = this.b;
    const d = this.d;
    const order = this.order;
    const tmp = this.tmp;
    let l = start;
    let t = 0;
    for (let k = start; k < end; k++) {
      const r = order[k];
      const bin = bins[r * d + s.feature];
      const goLeft = bin === MISSING_BIN ? s.defaultLeft : bin <= s.bin;
      if (goLeft) order[l++] = r;
      else tmp[t++] = r;
    }
    order.set(tmp.subarray(0, t), l);
    return l;
  }

  /** Grows one tree on the rows order[0, m); returns its structure with leaf ranges (values filled by the caller). */
  grow(m: number, g: Float64Array): { tree: Omit<Tree, 'value'>; ranges: Array<[number, number]>; splitBins: Int32Array } {
    const feature: number[] = [];
    const splitBin: number[] = [];
    const defaultLeft: number[] = [];
    const left: number[] = [];
    const right: number[] = [];
    const rootHist = this.takeHist();
    this.buildHist(rootHist, 0, m, g);
    const G = histGradSum(rootHist);
    const root: Leaf = { start: 0, end: m, hist: rootHist, gradSum: G, split: null, parent: -1, isLeft: false };
    root.split = m >= 2 * this.minLeaf ? this.bestSplit(rootHist, G, m) : null;
    const leaves: Leaf[] = [root];
    while (leaves.length < this.maxLeaves) {
      let bi = -1;
      let bg = MIN_GAIN;
      for (let i = 0; i < leaves.length; i++) {
        const s = leaves[i].split;
        if (s && s.gain > bg) {
          bg = s.gain;
          bi = i;
        }
      }
      if (bi < 0) break;
      const p = leaves[bi];
      const s = p.split!;
      const node = feature.length;
      feature.push(s.feature);
      splitBin.push(s.bin);
      defaultLeft.push(s.defaultLeft ? 1 : 0);
      left.push(0);
      right.push(0);
      if (p.parent >= 0) (p.isLeft ? left : right)[p.parent] = node;
      const mid = this.partition(p.start, p.end, s);
      const nl = mid - p.start;
      const nr = p.end - mid;
      // Histogram of the smaller child; the larger one is the parent's minus it (reusing the parent's buffer).
      const small = this.takeHist();
      const smallIsLeft = nl <= nr;
      if (smallIsLeft) this.buildHist(small, p.start, mid, g);
      else this.buildHist(small, mid, p.end, g);
      const big = p.hist;
      for (let i = 0; i < big.length; i++) big[i] -= small[i];
      const lh = smallIsLeft ? small : big;
      const rh = smallIsLeft ? big : small;
      // Every row sits in one bin of feature 0, so its histogram sums to the child's total.
      const lg = histGradSum(lh);
      const rg = p.gradSum - lg;
      const L: Leaf = { start: p.start, end: mid, hist: lh, gradSum: lg, split: null, parent: node, isLeft: true };
      const R: Leaf = { start: mid, end: p.end, hist: rh, gradSum: rg, split: null, parent: node, isLeft: false };
      L.split = nl >= 2 * this.minLeaf ? this.bestSplit(lh, lg, nl) : null;
      R.split = nr >= 2 * this.minLeaf ? this.bestSplit(rh, rg, nr) : null;
      leaves.splice(bi, 1, L, R);
    }
    // Leaf numbering: the order in `leaves`; link children to ~leaf.
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i < leaves.length; i++) {
      const lf = leaves[i];
      ranges.push([lf.start, lf.end]);
      if (lf.parent >= 0) (lf.isLeft ? left : right)[lf.parent] = ~i;
      this.histPool.push(lf.hist);
    }
    const threshold = new Float64Array(feature.length);
    for (let i = 0; i < feature.length; i++) threshold[i] = this.b.edges[feature[i]][splitBin[i]];
    return {
      tree: {
        feature: Int32Array.from(feature),
        threshold,
        defaultLeft: Uint8Array.from(defaultLeft),
        left: Int32Array.from(left),
        right: Int32Array.from(right),
      },
      ranges,
      splitBins: Int32Array.from(splitBin),
    };
  }
}

function resolveOptions(opts: TrainOptions) {
  const o = {
    trees: opts.trees ?? GBDT_DEFAULTS.trees,
    maxLeaves: opts.maxLeaves ?? GBDT_DEFAULTS.maxLeaves,
    learningRate: opts.learningRate ?? GBDT_DEFAULTS.learningRate,
    minSamplesLeaf: opts.minSamplesLeaf ?? GBDT_DEFAULTS.minSamplesLeaf,
    bins: opts.bins ?? GBDT_DEFAULTS.bins,
    seed: opts.seed ?? GBDT_DEFAULTS.seed,
    subsample: opts.subsample ?? GBDT_DEFAULTS.subsample,
  };
  if (!opts.quantiles.length || opts.quantiles.some((a) => !(a > 0 && a < 1))) throw new Error('quantiles must be in (0, 1)');
  if (!(Number.isInteger(o.bins) && o.bins >= 2 && o.bins <= 255)) throw new Error('bins must be an integer in [2, 255]');
  if (!(Number.isInteger(o.maxLeaves) && o.maxLeaves >= 2)) throw new Error('maxLeaves must be an integer ≥ 2');
  if (!(Number.isInteger(o.trees) && o.trees >= 0)) throw new Error('trees must be an integer ≥ 0');
  if (!(o.subsample > 0 && o.subsample <= 1)) throw new Error('subsample must be in (0, 1]');
  if (!(o.minSamplesLeaf >= 1)) throw new Error('minSamplesLeaf must be ≥ 1');
  return o;
}

function checkDataset(data: Dataset): void {
  const { n, d, X, y, featureNames } = data;
  if (!(n > 0) || !(d > 0)) throw new Error('dataset: n and d must be positive');
  if (X.length !== n * d) throw new Error(`dataset: X has ${X.length} values, expected ${n}×${d}`);
  if (y.length !== n) throw new Error(`dataset: y has ${y.length} values, expected ${n}`);
  if (featureNames.length !== d) throw new Error(`dataset: ${featureNames.length} feature names for ${d} features`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(y[i])) throw new Error(`dataset: y[${i}] is not finite`);
  // Infinite after rounding to float32 (|x| > 3.4e38 included) cannot be binned consistently with
  // the float32 thresholds predict() and ONNX use; unknown values must be NaN.
  for (let i = 0; i < n * d; i++) {
    const v = Math.fround(X[i]);
    if (v === Infinity || v === -Infinity) throw new Error(`dataset: X[${Math.floor(i / d)}][${i % d}] is infinite in float32; use NaN for unknown values`);
  }
}

export function trainQuantileGbdt(data: Dataset, opts: TrainOptions): QuantileModel {
  checkDataset(data);
  const o = resolveOptions(opts);
  const { n, d, y } = data;
  const binned = binData(data, o.bins);
  const grower = new TreeGrower(binned, n, d, o.maxLeaves, o.minSamplesLeaf);
  const F = new Float64Array(n);
  const g = new Float64Array(n);
  const resid = new Float64Array(n);
  const leafOf = new Int32Array(n);
  const m = o.subsample >= 1 ? n : Math.max(1, Math.round(n * o.subsample));
  const ensembles: Ensemble[] = [];
  for (let qi = 0; qi < opts.quantiles.length; qi++) {
    const alpha = opts.quantiles[qi];
    // Each quantile draws its own rows from the seed, independent of the others.
    const rand = seededRandom((o.seed ^ Math.imul(qi + 1, 0x9e3779b9)) >>> 0);
    const base = Math.fround(quantileOf(Float64Array.from(y), alpha));
    F.fill(base);
    const trees: Tree[] = [];
    for (let t = 0; t < o.trees; t++) {
      for (let i = 0; i < n; i++) g[i] = y[i] < F[i] ? 1 - alpha : -alpha;
      const order = grower.order;
      if (m === n) {
        for (let i = 0; i < n; i++) order[i] = i;
      } else {
        // Partial Fisher–Yates over 0..n-1, then sorted so histogram building reads rows in memory order.
        for (let i = 0; i < n; i++) order[i] = i;
        for (let i = 0; i < m; i++) {
          const j = i + Math.floor(rand() * (n - i));
          const tmp = order[i];
          order[i] = order[j];
          order[j] = tmp;
        }
        order.subarray(0, m).sort();
      }
      const { tree, ranges, splitBins } = grower.grow(m, g);
      const value = new Float64Array(ranges.length);
      for (let l = 0; l < ranges.length; l++) {
        const [s, e] = ranges[l];
        const r = resid.subarray(0, e - s);
        for (let k = s; k < e; k++) {
          const row = order[k];
          r[k - s] = y[row] - F[row];
        }
        value[l] = Math.fround(o.learningRate * quantileOf(r, alpha));
      }
      if (m === n) {
        for (let l = 0; l < ranges.length; l++) for (let k = ranges[l][0]; k < ranges[l][1]; k++) leafOf[order[k]] = l;
      } else {
        // Rows left out of this tree's sample need its output too: walk the binned rows.
        routeBinned(binned.bins, d, n, tree, splitBins, leafOf);
      }
      for (let i = 0; i < n; i++) F[i] += value[leafOf[i]];
      trees.push({ ...tree, value });
    }
    ensembles.push({ quantile: alpha, base, trees });
  }
  return new GbdtModel(data.featureNames.slice(), opts.quantiles.slice(), ensembles);
}

function routeBinned(bins: Uint8Array, d: number, n: number, tree: Omit<Tree, 'value'>, splitBins: Int32Array, out: Int32Array): void {
  const { feature, defaultLeft, left, right } = tree;
  if (feature.length === 0) {
    out.fill(0);
    return;
  }
  for (let i = 0; i < n; i++) {
    let node = 0;
    const row = i * d;
    while (node >= 0) {
      const b = bins[row + feature[node]];
      const goLeft = b === MISSING_BIN ? defaultLeft[node] === 1 : b <= splitBins[node];
      node = goLeft ? left[node] : right[node];
    }
    out[i] = ~node;
  }
}

// ---------------------------------------------------------------------------
// Worker

/** Message from trainInWorker to daemon/runtime/gbdtWorker. */
export interface TrainRequest {
  data: Dataset;
  opts: TrainOptions;
}

export type TrainReply = { ok: true; model: unknown } | { ok: false; message: string };

/**
 * The worker script: dist/gbdtWorker.js next to the bundled daemon (an entry
 * of its own in esbuild.mjs), or the TypeScript source when running under tsx
 * (tests, bench).
 */
export function gbdtWorkerPath(): string {
  for (const name of ['gbdtWorker.js', 'gbdtWorker.ts']) {
    const p = path.join(__dirname, name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`gbdt worker script not found next to ${__dirname}`);
}

/**
 * Trains in a worker thread so the daemon's event loop never blocks.
 * X and y are transferred, not copied: the caller's arrays are detached
 * (empty) afterwards unless they are views into a larger buffer, which is copied.
 */
/** `workerPath`: the worker script to run (default: the one next to this module, bundled or from sources). */
export function trainInWorker(data: Dataset, opts: TrainOptions, workerPath: string = gbdtWorkerPath()): Promise<QuantileModel> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err: Error | null, model?: QuantileModel) => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      if (err) reject(err);
      else resolve(model!);
    };
    const file = workerPath;
    // From TypeScript sources the worker registers tsx itself: a loader inherited through
    // --import is not reliably active in worker threads on Node 20.
    const worker = file.endsWith('.ts')
      ? new Worker(
          `require(require.resolve('tsx/cjs', { paths: [${JSON.stringify(path.dirname(file))}] })); require(${JSON.stringify(file)});`,
          { eval: true, execArgv: [] },
        )
      : new Worker(file);
    worker.on('message', (m: TrainReply) => {
      if (!m.ok) return done(new Error(`gbdt training failed: ${m.message}`));
      try {
        done(null, modelFromJSON(m.model));
      } catch (err) {
        done(err as Error);
      }
    });
    worker.on('error', (err) => done(err));
    worker.on('exit', (code) => done(new Error(`gbdt worker exited (code ${code}) before answering`)));
    const transfer: ArrayBuffer[] = [];
    for (const a of [data.X, data.y]) {
      const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer;
      if (whole) transfer.push(a.buffer as ArrayBuffer);
    }
    const req: TrainRequest = { data, opts };
    worker.postMessage(req, transfer);
  });
}
