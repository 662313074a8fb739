// The ML commands' argument forms: --var/--tag pairs and gate rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyValues, parseRule } from '../../daemon/cli/ml';

test('--var NAME=VALUE pairs keep everything after the first =, literally', () => {
  assert.deepEqual(keyValues(['cpus=4', "setup=a=b; $(id)", 'empty='], '--var'), { cpus: '4', setup: 'a=b; $(id)', empty: '' });
  assert.throws(() => keyValues(['novalue'], '--var'), /--var takes NAME=VALUE, got "novalue"/);
  assert.throws(() => keyValues(['=x'], '--tag'), /--tag takes NAME=VALUE/);
});

test('gate rules are METRIC:direction:tolerance:mode', () => {
  assert.deepEqual(parseRule('accuracy:higher:0.01:absolute'), { metric: 'accuracy', direction: 'higher', tolerance: 0.01, mode: 'absolute' });
  assert.deepEqual(parseRule('latency_p95_ms:lower:0.1:relative'), { metric: 'latency_p95_ms', direction: 'lower', tolerance: 0.1, mode: 'relative' });
  for (const bad of ['accuracy', 'accuracy:up:0.01:absolute', 'accuracy:higher:-1:absolute', 'accuracy:higher:0.01:percent']) {
    assert.throws(() => parseRule(bad), /a rule is METRIC:higher\|lower:TOLERANCE:absolute\|relative/, bad);
  }
});
