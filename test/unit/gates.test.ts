// Regression gates: the rule arithmetic at its boundaries, what a person
// reads in the details, and runGate against a real registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../daemon/db/database';
import { ModelStore } from '../../daemon/db/models';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { DEFAULT_RULES, effectiveMetrics, evaluateGate, formatNumber, ruleLimit, runGate } from '../../daemon/models/gates';
import { ErrorCode, GateResult, GateRule, type Metrics } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';

const higherAbs = (metric: string, tolerance: number): GateRule => ({ metric, direction: 'higher', tolerance, mode: 'absolute' });
const higherRel = (metric: string, tolerance: number): GateRule => ({ metric, direction: 'higher', tolerance, mode: 'relative' });
const lowerAbs = (metric: string, tolerance: number): GateRule => ({ metric, direction: 'lower', tolerance, mode: 'absolute' });
const lowerRel = (metric: string, tolerance: number): GateRule => ({ metric, direction: 'lower', tolerance, mode: 'relative' });

/** Pass or fail of one rule on one pair of values. */
function verdict(rule: GateRule, candidate: number, baseline: number): boolean {
  return evaluateGate([rule], { [rule.metric]: candidate }, { [rule.metric]: baseline }).pass;
}

test('the default rules: accuracy may drop 1 point (absolute), p95 latency may rise 10 % (relative)', () => {
  assert.deepEqual(
    DEFAULT_RULES.map((r) => ({ ...r })),
    [
      { metric: 'accuracy', direction: 'higher', tolerance: 0.01, mode: 'absolute' },
      { metric: 'latency_p95_ms', direction: 'lower', tolerance: 0.1, mode: 'relative' },
    ],
  );
  for (const r of DEFAULT_RULES) GateRule.parse(r);
  assert.ok(Object.isFrozen(DEFAULT_RULES) && Object.isFrozen(DEFAULT_RULES[0]), 'nobody can change the defaults in place');
  const baseline = { accuracy: 0.95, latency_p95_ms: 100 };
  assert.equal(evaluateGate(DEFAULT_RULES, { accuracy: 0.94, latency_p95_ms: 110 }, baseline).pass, true);
  assert.equal(evaluateGate(DEFAULT_RULES, { accuracy: 0.9399, latency_p95_ms: 100 }, baseline).pass, false);
  assert.equal(evaluateGate(DEFAULT_RULES, { accuracy: 0.95, latency_p95_ms: 110.01 }, baseline).pass, false);
});

test('exactly at the limit passes; 1e-9 beyond fails, in every direction and mode', () => {
  // [rule, baseline, the limit]
  const cases: [GateRule, number, number][] = [
    [higherAbs('accuracy', 0.01), 0.96, 0.95],
    [higherAbs('accuracy', 0.01), 0.07, 0.06], // 0.07 - 0.01 is 0.060000000000000005 in floating point
    [lowerAbs('loss', 0.1), 0.7, 0.8], // 0.7 + 0.1 is 0.7999999999999999
    [higherRel('throughput', 0.05), 200, 190],
    [lowerRel('latency_p95_ms', 0.1), 100, 110],
    [lowerRel('latency_p95_ms', 0.1), 250, 275],
    [higherAbs('accuracy', 0), 0.9, 0.9],
  ];
  assert.notEqual(0.07 - 0.01, 0.06, 'the floating point trap is real');
  assert.notEqual(0.7 + 0.1, 0.8);
  for (const [rule, baseline, limit] of cases) {
    const beyond = rule.direction === 'higher' ? limit - 1e-9 : limit + 1e-9;
    const inside = rule.direction === 'higher' ? limit + 1e-9 : limit - 1e-9;
    const label = `${rule.metric} ${rule.direction} ${rule.mode} ${rule.tolerance} from ${baseline}`;
    assert.equal(verdict(rule, limit, baseline), true, `${label}: exactly ${limit} passes`);
    assert.equal(verdict(rule, inside, baseline), true, `${label}: ${inside} passes`);
    assert.equal(verdict(rule, beyond, baseline), false, `${label}: ${beyond} fails`);
    assert.ok(Math.abs(ruleLimit(rule, baseline) - limit) < 1e-12, `${label}: limit ${limit}`);
  }
});

test('absolute and relative tolerances judge the same numbers differently', () => {
  // Latency 100 -> 105: 5 % worse. Relative 10 % allows it; absolute 0.1 ms does not.
  assert.equal(verdict(lowerRel('latency_p95_ms', 0.1), 105, 100), true);
  assert.equal(verdict(lowerAbs('latency_p95_ms', 0.1), 105, 100), false);
  assert.equal(ruleLimit(lowerAbs('latency_p95_ms', 0.1), 100), 100.1);
  // Accuracy 0.5 -> 0.48: 4 % relative, 0.02 absolute.
  assert.equal(verdict(higherRel('accuracy', 0.05), 0.48, 0.5), true);
  assert.equal(verdict(higherAbs('accuracy', 0.01), 0.48, 0.5), false);
});

test('improvements always pass; a relative tolerance never makes a negative baseline stricter', () => {
  assert.equal(verdict(higherAbs('accuracy', 0), 0.99, 0.5), true);
  assert.equal(verdict(lowerRel('latency_p95_ms', 0), 10, 100), true);
  // Log-likelihood -10, higher is better, 10 % slack: the limit is -11, not -9.
  assert.equal(ruleLimit(higherRel('loglik', 0.1), -10), -11);
  assert.equal(verdict(higherRel('loglik', 0.1), -10.5, -10), true);
  assert.equal(verdict(higherRel('loglik', 0.1), -11.5, -10), false);
  // A zero baseline leaves a relative rule no room.
  assert.equal(verdict(lowerRel('errors', 0.5), 0, 0), true);
  assert.equal(verdict(lowerRel('errors', 0.5), 1, 0), false);
});

test('a metric missing on either side fails its rule and says which side lacks it', () => {
  const rules = [higherAbs('accuracy', 0.01), lowerRel('latency_p95_ms', 0.1), higherAbs('f1', 0)];
  const r = evaluateGate(rules, { accuracy: 0.99, f1: 0.5 }, { accuracy: 0.9, latency_p95_ms: 10 }, { candidate: 'v4', baseline: 'v3' });
  assert.equal(r.pass, false);
  assert.deepEqual(
    r.rules.map((x) => [x.metric, x.pass, x.candidate, x.baseline, x.limit]),
    [
      ['accuracy', true, 0.99, 0.9, 0.89],
      ['latency_p95_ms', false, null, 10, null],
      ['f1', false, 0.5, null, null],
    ],
  );
  assert.equal(r.rules[1]!.detail, 'latency_p95_ms: no verdict: the candidate (v4) does not report it (it reports: accuracy, f1)');
  assert.equal(r.rules[2]!.detail, 'f1: no verdict: the baseline (v3) does not report it (it reports: accuracy, latency_p95_ms)');
  const neither = evaluateGate([higherAbs('auc', 0)], {}, {}, { candidate: 'v2', baseline: 'v1' });
  assert.equal(neither.pass, false, 'no numbers is no pass');
  assert.equal(neither.rules[0]!.detail, 'auc: no verdict: neither the candidate (v2) nor the baseline (v1) reports it');
  assert.equal(evaluateGate([higherAbs('constructor', 0)], {}, { constructor: 1 }).pass, false, 'inherited properties are not metrics');
});

test('details read as a sentence with the numbers that decided it', () => {
  const labels = { candidate: 'v4', baseline: 'v3' };
  const details = (rule: GateRule, c: number, b: number) => evaluateGate([rule], { [rule.metric]: c }, { [rule.metric]: b }, labels).rules[0]!.detail;
  assert.equal(details(higherAbs('accuracy', 0.01), 0.951, 0.972), 'accuracy 0.951 ≥ limit 0.962? no: dropped 0.021 from 0.972 (v3), at most 0.01 drop allowed');
  assert.equal(details(higherAbs('accuracy', 0.01), 0.965, 0.972), 'accuracy 0.965 ≥ limit 0.962? yes: dropped 0.007 from 0.972 (v3), at most 0.01 drop allowed');
  assert.equal(details(higherAbs('accuracy', 0.01), 0.98, 0.972), 'accuracy 0.98 ≥ limit 0.962? yes: rose 0.008 from 0.972 (v3)');
  assert.equal(details(lowerRel('latency_p95_ms', 0.1), 130, 100), 'latency_p95_ms 130 ≤ limit 110? no: rose 30% from 100 (v3), at most 10% rise allowed');
  assert.equal(details(lowerRel('latency_p95_ms', 0.1), 90, 100), 'latency_p95_ms 90 ≤ limit 110? yes: dropped 10% from 100 (v3)');
  assert.equal(details(higherAbs('accuracy', 0), 0.9, 0.9), 'accuracy 0.9 ≥ limit 0.9? yes: unchanged from 0.9 (v3)');
  assert.equal(details(higherAbs('accuracy', 0), 0.899, 0.9), 'accuracy 0.899 ≥ limit 0.9? no: dropped 0.001 from 0.9 (v3), no drop allowed');
  assert.equal(details(higherAbs('accuracy', 0.01), 0.94 - 1e-9, 0.95), 'accuracy 0.939999999 ≥ limit 0.94? no: dropped 0.010000001 from 0.95 (v3), at most 0.01 drop allowed');
  assert.equal(formatNumber(0.95 - 0.01), '0.94');
  assert.equal(formatNumber(1234567.5), '1234567.5');
});

test('the candidate is its latest evaluation over its training metrics', () => {
  assert.deepEqual(effectiveMetrics({ metrics: { accuracy: 0.9, loss: 0.3 }, evaluation: { accuracy: 0.8, f1: 0.7 } }), { accuracy: 0.8, loss: 0.3, f1: 0.7 });
  assert.deepEqual(effectiveMetrics({ metrics: { accuracy: 0.9 }, evaluation: null }), { accuracy: 0.9 });
});

function registry() {
  const db = openDatabase(':memory:');
  const cluster = new ClusterStore(db).add({ name: 'hpc', host: 'h', port: 22, user: 'u', identityFile: '/k', knownHostsFile: '/kh' });
  const jobs = new JobStore(db);
  const store = new ModelStore(db);
  const train = (model: string, metrics: Metrics) => {
    const job = jobs.create({ clusterId: cluster.id, name: 'train', script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: [], kind: 'train', modelName: model });
    return store.registerVersion({ model, clusterId: cluster.id, artifactPath: '/a', artifacts: [], metrics, trainingJobId: job.id, gitCommit: null, tags: {} });
  };
  return { store, train };
}

test('runGate compares with prod by default, uses evaluations, records the result', () => {
  const { store, train } = registry();
  train('m', { accuracy: 0.95, latency_p95_ms: 100 });
  train('m', { accuracy: 0.99, latency_p95_ms: 100 });
  assert.throws(
    () => runGate(store, 'm', 2),
    (e: unknown) => e instanceof RpcError && e.code === ErrorCode.Conflict && e.message === 'model "m" has no prod version to compare v2 with; give a baseline version',
  );
  const explicit = runGate(store, 'm', 2, 1);
  GateResult.parse(explicit);
  assert.deepEqual([explicit.model, explicit.candidate, explicit.baseline, explicit.pass], ['m', 2, 1, true]);

  store.promote({ name: 'm', version: 1, who: 'ann' });
  // Its evaluation on held-out data tells another story than its training metrics.
  store.setEvaluation(store.resolveRecord('m@v2').id, { accuracy: 0.9 });
  const r = runGate(store, 'm', 2);
  assert.equal(r.baseline, 1);
  assert.equal(r.pass, false);
  assert.deepEqual(r.rules.map((x) => [x.metric, x.candidate, x.pass]), [['accuracy', 0.9, false], ['latency_p95_ms', 100, true]]);
  assert.match(r.rules[0]!.detail, /^accuracy 0\.9 ≥ limit 0\.94\? no: dropped 0\.05 from 0\.95 \(v1\)/);
  // The baseline's evaluation counts too.
  store.setEvaluation(store.resolveRecord('m@v1').id, { accuracy: 0.905 });
  assert.equal(runGate(store, 'm', 2).pass, true);

  assert.deepEqual(store.get('m', { offset: 0, limit: 1 }).gates.map((g) => g.pass), [true, false, true], 'every run recorded, newest first');
  assert.throws(() => runGate(store, 'm', 9), /no version 9/);
  assert.throws(() => runGate(store, 'm', 2, 9), /no version 9/);
});

test("runGate uses the model's own rules once set", () => {
  const { store, train } = registry();
  train('m', { f1: 0.8 });
  train('m', { f1: 0.79 });
  assert.equal(runGate(store, 'm', 2, 1).pass, false, 'the defaults want accuracy and latency');
  store.setRules('m', [higherAbs('f1', 0.01)]);
  const r = runGate(store, 'm', 2, 1);
  assert.equal(r.pass, true);
  assert.deepEqual(r.rules.map((x) => x.metric), ['f1']);
});
