// Job states, job ids, exit codes, memory sizes and TRES strings as SLURM prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExitCode } from '../../daemon/slurm/exitcode';
import { countArrayTasks, isValidJobId, parseArraySpec, parseJobId } from '../../daemon/slurm/jobid';
import { JOB_STATES, isActiveState, isTerminalState, normalizeJobState } from '../../daemon/slurm/jobstate';
import { parseSlurmMemory, parseSlurmMemoryBytes } from '../../daemon/slurm/memory';
import { parseTres } from '../../daemon/slurm/tres';

test('long state names map to themselves, short codes to long names', () => {
  for (const s of JOB_STATES) assert.equal(normalizeJobState(s).state, s);
  const short: Record<string, string> = {
    PD: 'PENDING', R: 'RUNNING', CG: 'COMPLETING', CD: 'COMPLETED', F: 'FAILED', CA: 'CANCELLED', TO: 'TIMEOUT',
    OOM: 'OUT_OF_MEMORY', NF: 'NODE_FAIL', PR: 'PREEMPTED', BF: 'BOOT_FAIL', DL: 'DEADLINE', S: 'SUSPENDED',
    RQ: 'REQUEUED', RH: 'REQUEUE_HOLD', SE: 'SPECIAL_EXIT', CF: 'CONFIGURING', ST: 'STOPPED', RV: 'REVOKED',
  };
  for (const [code, long] of Object.entries(short)) assert.equal(normalizeJobState(code).state, long, code);
  assert.equal(normalizeJobState(' running ').state, 'RUNNING');
  assert.equal(normalizeJobState('Canceled').state, 'CANCELLED');
});

test('sacct state decorations', () => {
  assert.deepEqual(normalizeJobState('CANCELLED by 1001'), { state: 'CANCELLED', raw: 'CANCELLED by 1001', cancelledBy: '1001' });
  assert.deepEqual(normalizeJobState('CANCELLED by 0'), { state: 'CANCELLED', raw: 'CANCELLED by 0', cancelledBy: '0' });
  // Cut cells in fixed-width output.
  assert.equal(normalizeJobState('CANCELLED+').state, 'CANCELLED');
  assert.equal(normalizeJobState('OUT_OF_ME+').state, 'OUT_OF_MEMORY');
  assert.equal(normalizeJobState('COMPLETI+').state, 'COMPLETING');
  // A cut prefix shared by two states stays unknown rather than guessed.
  assert.equal(normalizeJobState('RE+').state, 'UNKNOWN');
});

test('unknown and garbage states are UNKNOWN with the raw text kept', () => {
  assert.deepEqual(normalizeJobState('WIBBLE'), { state: 'UNKNOWN', raw: 'WIBBLE' });
  assert.equal(normalizeJobState('').state, 'UNKNOWN');
  assert.equal(normalizeJobState('\u0000\uffff').state, 'UNKNOWN');
  assert.equal(normalizeJobState(undefined as unknown as string).state, 'UNKNOWN');
});

test('terminal and active states', () => {
  for (const s of ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE']) {
    assert.equal(isTerminalState(s), true, s);
    assert.equal(isActiveState(s), false, s);
  }
  for (const s of ['PENDING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_HOLD', 'SPECIAL_EXIT', 'CONFIGURING', 'UNKNOWN', 'nonsense']) {
    assert.equal(isTerminalState(s), false, s);
  }
  for (const s of ['RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED']) assert.equal(isActiveState(s), true, s);
  assert.equal(isActiveState('PENDING'), false);
  // Raw text works too.
  assert.equal(isTerminalState('CANCELLED by 1001'), true);
  assert.equal(isTerminalState('CD'), true);
  assert.equal(isActiveState('R'), true);
});

test('job ids: plain, array task, pending array, het, steps', () => {
  assert.deepEqual(parseJobId('123'), {
    raw: '123', job: '123', baseId: 123, arrayTaskId: null, arrayTaskSpec: null, arrayTaskRanges: null, arrayThrottle: null, hetOffset: null, step: null,
  });
  const task = parseJobId('123_4')!;
  assert.equal(task.baseId, 123);
  assert.equal(task.arrayTaskId, 4);
  assert.deepEqual(task.arrayTaskRanges, [{ start: 4, end: 4, step: 1 }]);
  const rest = parseJobId('123_[5-9%2]')!;
  assert.equal(rest.arrayTaskId, null);
  assert.equal(rest.arrayTaskSpec, '5-9%2');
  assert.deepEqual(rest.arrayTaskRanges, [{ start: 5, end: 9, step: 1 }]);
  assert.equal(rest.arrayThrottle, 2);
  assert.deepEqual(parseJobId('7_[1,3,10-20:5]')!.arrayTaskRanges, [
    { start: 1, end: 1, step: 1 },
    { start: 3, end: 3, step: 1 },
    { start: 10, end: 20, step: 5 },
  ]);
  const het = parseJobId('123+1')!;
  assert.equal(het.hetOffset, 1);
  assert.equal(het.baseId, 123);
  const batch = parseJobId('123_4.batch')!;
  assert.equal(batch.step, 'batch');
  assert.equal(batch.job, '123_4');
  assert.equal(parseJobId('123.extern')!.step, 'extern');
  assert.equal(parseJobId('123+0.0')!.job, '123+0');
  assert.equal(parseJobId('123.0')!.step, '0');
  // Cut short by SLURM (SLURM_BITSTR_LEN): still an id, ranges unknown.
  const cut = parseJobId('8_[1,3,5,7,9...')!;
  assert.equal(cut.baseId, 8);
  assert.equal(cut.arrayTaskRanges, null);
});

test('array specs and counts', () => {
  assert.equal(countArrayTasks(parseArraySpec('1-3').ranges!), 3);
  assert.equal(countArrayTasks(parseArraySpec('1-9:2').ranges!), 5);
  assert.equal(countArrayTasks(parseArraySpec('1-40%2').ranges!), 40);
  assert.deepEqual(parseArraySpec('5-1'), { ranges: null, throttle: null });
  assert.deepEqual(parseArraySpec(''), { ranges: null, throttle: null });
});

test('bad job ids are null, and command builders accept only real ids', () => {
  for (const bad of ['', 'abc', '12a', '-1', '1_', '1+', '1.', '1 2', '1;rm -rf /', '$(id)', '99999999999999999999999']) {
    assert.equal(parseJobId(bad), null, bad);
  }
  for (const ok of ['1', '123_4', '123_[1-3]', '123_[1,5-7%2]', '5+1']) assert.equal(isValidJobId(ok), true, ok);
  for (const bad of ['', ' 1', '1.batch', '1,2', '-j', '1_[x]', 'all']) assert.equal(isValidJobId(bad), false, bad);
});

test('exit codes', () => {
  assert.deepEqual(parseExitCode('3:0'), { code: 3, signal: 0 });
  assert.deepEqual(parseExitCode('0:15'), { code: 0, signal: 15 });
  assert.deepEqual(parseExitCode('0:0'), { code: 0, signal: 0 });
  assert.deepEqual(parseExitCode('2'), { code: 2, signal: 0 });
  for (const bad of ['', 'x', '3:', ':0', '-1:0', '1:2:3', '256:0', 'N/A']) assert.equal(parseExitCode(bad), null, bad);
});

test('memory sizes', () => {
  assert.equal(parseSlurmMemoryBytes('256M'), 256 * 1024 ** 2);
  assert.equal(parseSlurmMemoryBytes('18432'), 18432 * 1024 ** 2);
  assert.equal(parseSlurmMemoryBytes('1.50G'), 1.5 * 1024 ** 3);
  assert.equal(parseSlurmMemoryBytes('1234K'), 1234 * 1024);
  assert.equal(parseSlurmMemoryBytes('1234', 'K'), 1234 * 1024);
  assert.equal(parseSlurmMemoryBytes('0'), 0);
  assert.deepEqual(parseSlurmMemory('4Gn'), { bytes: 4 * 1024 ** 3, per: 'node' });
  assert.deepEqual(parseSlurmMemory('256Mc'), { bytes: 256 * 1024 ** 2, per: 'cpu' });
  for (const bad of ['', 'N/A', '12X', 'M', '-1M', '1,5G']) assert.equal(parseSlurmMemoryBytes(bad), null, bad);
});

test('TRES strings', () => {
  const t = parseTres('cpu=2,mem=512M,node=1,billing=2,gres/gpu=1,gres/gpu:a100=1')!;
  assert.equal(t.cpus, 2);
  assert.equal(t.memBytes, 512 * 1024 ** 2);
  assert.equal(t.nodes, 1);
  assert.equal(t.gpus, 1);
  assert.equal(t.entries.billing, '2');
  assert.equal(t.text, 'cpu=2,mem=512M,node=1,billing=2,gres/gpu=1,gres/gpu:a100=1');
  assert.equal(parseTres('cpu=1,gres/gpu:a100=2,gres/gpu:v100=1')!.gpus, 3);
  assert.equal(parseTres('cpu=1')!.gpus, null);
  assert.equal(parseTres(''), null);
  assert.equal(parseTres('(null)'), null);
  assert.deepEqual(parseTres('garbage,,=x,y=')!.entries, { y: '' });
});
