// Regression gates: a candidate version against a baseline (by default the
// version `prod` points at), one rule per metric. A rule never passes by
// default: a metric missing on either side fails it, and says which side.
import { ErrorCode, type GateResult, type GateRule, type GateRuleResult, type Metrics, type ModelVersionInfo } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { ModelStore } from '../db/models';

/** Used until a model has rules of its own. */
export const DEFAULT_RULES: readonly GateRule[] = Object.freeze([
  // On a 0-1 scale: may not drop by more than 1 point.
  Object.freeze({ metric: 'accuracy', direction: 'higher', tolerance: 0.01, mode: 'absolute' } as const),
  // May not get more than 10 % slower.
  Object.freeze({ metric: 'latency_p95_ms', direction: 'lower', tolerance: 0.1, mode: 'relative' } as const),
]);

/** What a gate compares: the latest evaluation over the training metrics (evaluation wins). */
export function effectiveMetrics(version: Pick<ModelVersionInfo, 'metrics' | 'evaluation'>): Metrics {
  return { ...version.metrics, ...(version.evaluation ?? {}) };
}

/**
 * The worst value that still passes. Relative tolerances scale with the
 * baseline's magnitude, so a negative baseline is not made stricter by them.
 */
export function ruleLimit(rule: GateRule, baseline: number): number {
  const allowance = rule.mode === 'absolute' ? rule.tolerance : Math.abs(baseline) * rule.tolerance;
  return rule.direction === 'higher' ? baseline - allowance : baseline + allowance;
}

/**
 * `baseline - tolerance` is computed in binary floating point: 0.07 - 0.01
 * gives 0.060000000000000005, which would fail a candidate of exactly 0.06.
 * A few units in the last place of slack absorb that and nothing a person
 * could mean (it is far below 1e-9 for any metric under a million).
 */
function withinLimit(direction: GateRule['direction'], candidate: number, limit: number, baseline: number, tolerance: number): boolean {
  const slack = 4 * Number.EPSILON * Math.max(Math.abs(candidate), Math.abs(limit), Math.abs(baseline), Math.abs(tolerance));
  return direction === 'higher' ? candidate >= limit - slack : candidate <= limit + slack;
}

/** 12 significant digits: 0.9399999999999999 reads 0.94, 0.939999999 stays visible. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(12)));
}

export interface GateLabels {
  /** How the details name the two sides, e.g. "v4" and "v3". */
  candidate: string;
  baseline: string;
}

export interface GateEvaluation {
  pass: boolean;
  rules: GateRuleResult[];
}

function present(metrics: Metrics, name: string): number | null {
  const v = Object.prototype.hasOwnProperty.call(metrics, name) ? metrics[name] : undefined;
  return typeof v === 'number' ? v : null;
}

function reports(metrics: Metrics): string {
  const names = Object.keys(metrics).sort();
  return names.length ? `it reports: ${names.join(', ')}` : 'it reports no metrics';
}

function changeText(rule: GateRule, candidate: number, baseline: number, baselineLabel: string): string {
  const worse = rule.direction === 'higher' ? baseline - candidate : candidate - baseline;
  const badWord = rule.direction === 'higher' ? 'dropped' : 'rose';
  const goodWord = rule.direction === 'higher' ? 'rose' : 'dropped';
  const from = `from ${formatNumber(baseline)} (${baselineLabel})`;
  if (worse === 0) return `unchanged ${from}`;
  const word = worse > 0 ? badWord : goodWord;
  const size = Math.abs(candidate - baseline);
  if (rule.mode === 'relative' && baseline !== 0) {
    return `${word} ${formatNumber((size / Math.abs(baseline)) * 100)}% ${from}`;
  }
  return `${word} ${formatNumber(size)} ${from}`;
}

function allowedText(rule: GateRule): string {
  const verb = rule.direction === 'higher' ? 'drop' : 'rise';
  if (rule.tolerance === 0) return `no ${verb} allowed`;
  return rule.mode === 'relative' ? `at most ${formatNumber(rule.tolerance * 100)}% ${verb} allowed` : `at most ${formatNumber(rule.tolerance)} ${verb} allowed`;
}

function checkRule(rule: GateRule, candidate: Metrics, baseline: Metrics, labels: GateLabels): GateRuleResult {
  const c = present(candidate, rule.metric);
  const b = present(baseline, rule.metric);
  const base = { ...rule, candidate: c, baseline: b };
  if (c === null || b === null) {
    const missing =
      c === null && b === null
        ? `neither the candidate (${labels.candidate}) nor the baseline (${labels.baseline}) reports it`
        : c === null
          ? `the candidate (${labels.candidate}) does not report it (${reports(candidate)})`
          : `the baseline (${labels.baseline}) does not report it (${reports(baseline)})`;
    return { ...base, limit: null, pass: false, detail: `${rule.metric}: no verdict: ${missing}` };
  }
  if (!Number.isFinite(c) || !Number.isFinite(b)) {
    return { ...base, limit: null, pass: false, detail: `${rule.metric}: no verdict: not a finite number (candidate ${formatNumber(c)}, baseline ${formatNumber(b)})` };
  }
  const limit = ruleLimit(rule, b);
  const pass = withinLimit(rule.direction, c, limit, b, rule.tolerance);
  const op = rule.direction === 'higher' ? '≥' : '≤';
  const change = changeText(rule, c, b, labels.baseline);
  const worsened = rule.direction === 'higher' ? c < b : c > b;
  const tail = worsened ? `${change}, ${allowedText(rule)}` : change;
  return { ...base, limit, pass, detail: `${rule.metric} ${formatNumber(c)} ${op} limit ${formatNumber(limit)}? ${pass ? 'yes' : 'no'}: ${tail}` };
}

/** Every rule checked (none skipped); the gate passes when all of them do. */
export function evaluateGate(
  rules: readonly GateRule[],
  candidate: Metrics,
  baseline: Metrics,
  labels: GateLabels = { candidate: 'candidate', baseline: 'baseline' },
): GateEvaluation {
  const results = rules.map((r) => checkRule(r, candidate, baseline, labels));
  return { pass: results.every((r) => r.pass), rules: results };
}

/** Runs the model's rules on two of its versions and records the result. Baseline: the version `prod` points at. */
export function runGate(store: ModelStore, name: string, candidate: number, baseline?: number): GateResult {
  const cand = store.resolveRecord(`${name}@v${candidate}`);
  let baseVersion = baseline;
  if (baseVersion === undefined) {
    const prod = store.aliasHolder(name, 'prod');
    if (prod === null) {
      throw new RpcError(ErrorCode.Conflict, `model "${name}" has no prod version to compare v${candidate} with; give a baseline version`);
    }
    baseVersion = prod;
  }
  const base = store.resolveRecord(`${name}@v${baseVersion}`);
  const evaluation = evaluateGate(store.rules(name), effectiveMetrics(cand.info), effectiveMetrics(base.info), {
    candidate: `v${cand.info.version}`,
    baseline: `v${base.info.version}`,
  });
  return store.recordGate({ modelId: cand.modelId, candidateVersionId: cand.id, baselineVersionId: base.id, ...evaluation });
}
