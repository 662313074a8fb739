// The extension's view logic, without VS Code: grouping, labels, icons, the
// restart budget, job-end notifications and inline validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterInfo, JobInfo, ModelVersionInfo, TemplateVariable } from '../../daemon/protocol';
import { clusterTooltip, connectionDescription, connectionIcon, localClusterName } from '../../extension/model/clusters';
import { clustersToAdd, readClusterSettings } from '../../extension/model/clusterSettings';
import { validateClusterField, validateClusterName, validatePort, validateVariable, variableValue } from '../../extension/model/inputs';
import { countJobs, formatElapsed, groupJobs, jobContextValue, jobDescription, jobEndNotice, stateIcon } from '../../extension/model/jobs';
import { versionContextValue, versionDescription, versionTooltip } from '../../extension/model/models';
import { RestartBudget } from '../../extension/model/restartBudget';

let n = 0;
function job(over: Partial<JobInfo> = {}): JobInfo {
  n++;
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return {
    id,
    cluster: 'hpc',
    slurmJobId: String(100 + n),
    name: `job${n}`,
    state: 'RUNNING',
    terminal: false,
    reason: null,
    submitTime: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}Z`,
    startTime: '2026-01-01T00:00:00Z',
    endTime: null,
    exitCode: null,
    exitSignal: null,
    requested: { partition: null, qos: null, account: null, timeLimitSeconds: null, nodes: null, cpus: null, tres: null },
    runDir: '/home/u/.slurm-ml/runs/x',
    scriptPath: '/home/u/.slurm-ml/runs/x/a.sbatch',
    stdoutPath: null,
    stderrPath: null,
    progress: null,
    array: null,
    estimate: null,
    resubmittedFrom: null,
    kind: 'job',
    model: null,
    modelVersion: null,
    outputDir: null,
    finalized: false,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...over,
  };
}

test('elapsed times are short and exact at the unit boundaries', () => {
  assert.equal(formatElapsed(0), '0s');
  assert.equal(formatElapsed(59.9), '59s');
  assert.equal(formatElapsed(60), '1m00s');
  assert.equal(formatElapsed(245), '4m05s');
  assert.equal(formatElapsed(3600 * 2 + 180), '2h03m');
  assert.equal(formatElapsed(86400 * 3 + 3600 * 4), '3d04h');
  assert.equal(formatElapsed(-5), '0s');
});

test('a job item shows SLURM id, state, elapsed and progress; arrays their task count', () => {
  const now = Date.parse('2026-01-01T00:04:05Z');
  assert.equal(jobDescription(job({ slurmJobId: '42', progress: 41.6 }), now), '#42 · RUNNING · 4m05s · 42%');
  assert.equal(jobDescription(job({ slurmJobId: null, state: 'SUBMITTING', startTime: null }), now), 'SUBMITTING');
  assert.equal(jobDescription(job({ slurmJobId: '42', progress: 41.6 }), now, 720), '#42 · RUNNING · 4m05s of ≈12m00s · 42%', 'elapsed against the predicted runtime');
  assert.equal(jobDescription(job({ slurmJobId: '43', state: 'PENDING', startTime: null }), now, 720), '#43 · PENDING · ≈12m00s');
  assert.equal(jobDescription(job({ slurmJobId: '44', progress: null }), now, null), '#44 · RUNNING · 4m05s', 'no prediction: elapsed only');
  const ended = job({ slurmJobId: '7', state: 'COMPLETED', terminal: true, endTime: '2026-01-01T00:00:12Z', progress: 100 });
  assert.equal(jobDescription(ended, now), '#7 · COMPLETED · 12s', 'a finished job shows its run time, not time since start, and no 100%');
  const arr = job({ slurmJobId: '9', array: { total: 10, byState: { RUNNING: 2, PENDING: 8 }, done: false } });
  assert.match(jobDescription(arr, now), /10 tasks$/);
});

test('every state the daemon reports has a distinct icon for success, failure and running', () => {
  assert.equal(stateIcon('COMPLETED').id, 'pass');
  assert.equal(stateIcon('FAILED').id, 'error');
  assert.equal(stateIcon('OUT_OF_MEMORY').color, 'testing.iconFailed');
  assert.equal(stateIcon('TIMEOUT').id, 'watch');
  assert.equal(stateIcon('RUNNING').id, 'sync~spin');
  assert.equal(stateIcon('SOMETHING_NEW').id, 'circle-outline');
});

test('context values drive the menus: cancel for active jobs, resubmit for ended ones', () => {
  assert.equal(jobContextValue(job()), 'job.active');
  assert.equal(jobContextValue(job({ state: 'COMPLETED', terminal: true })), 'job.ended.ok');
  assert.equal(jobContextValue(job({ state: 'TIMEOUT', terminal: true })), 'job.ended.failed');
  assert.equal(jobContextValue(job({ array: { total: 2, byState: {}, done: false } })), 'job.active.array');
});

test('jobs are grouped per cluster into Active (newest first) and a bounded Recent', () => {
  const a1 = job({ cluster: 'b', submitTime: '2026-01-01T00:00:01Z' });
  const a2 = job({ cluster: 'b', submitTime: '2026-01-01T00:00:02Z' });
  const recent = Array.from({ length: 30 }, (_, i) => job({ cluster: 'b', state: 'COMPLETED', terminal: true, endTime: `2026-01-01T01:${String(i).padStart(2, '0')}:00Z` }));
  const other = job({ cluster: 'a', state: 'FAILED', terminal: true, endTime: '2026-01-01T00:00:00Z' });
  const groups = groupJobs([a1, ...recent, a2, other], ['a', 'b', 'empty'], 20);
  assert.deepEqual(groups.map((g) => g.cluster), ['a', 'b', 'empty']);
  const b = groups[1]!;
  assert.deepEqual(b.active.map((j) => j.id), [a2.id, a1.id]);
  assert.equal(b.recent.length, 20);
  assert.equal(b.recent[0]!.id, recent[29]!.id, 'the most recently ended first');
  assert.deepEqual(groups[2], { cluster: 'empty', active: [], recent: [] });
  assert.deepEqual(countJobs([a1, a2, job({ state: 'PENDING' }), other]), { running: 2, pending: 1 });
});

test('a job end is announced once, only when this window saw it active, as the setting says', () => {
  const running = job();
  const failed = { ...running, state: 'FAILED', terminal: true, exitCode: 2 };
  const done = { ...running, state: 'COMPLETED', terminal: true, exitCode: 0 };
  assert.deepEqual(jobEndNotice(running, failed, 'failed'), { kind: 'error', message: `Job ${running.name} (#${running.slurmJobId}) on hpc ended FAILED, exit code 2.` });
  assert.equal(jobEndNotice(running, done, 'failed'), null);
  assert.equal(jobEndNotice(running, done, 'all')?.kind, 'info');
  assert.equal(jobEndNotice(running, failed, 'none'), null);
  assert.equal(jobEndNotice(undefined, failed, 'all'), null, 'an old job replayed on connect is not news');
  assert.equal(jobEndNotice(failed, failed, 'all'), null, 'a second update of an ended job is not news');
});

test('the restart budget allows 3 restarts in 3 minutes, then refuses until the window moves', () => {
  let now = 0;
  const b = new RestartBudget(3, 180_000, () => now);
  assert.equal(b.take(), true);
  now = 60_000;
  assert.equal(b.take(), true);
  assert.equal(b.take(), true);
  assert.equal(b.remaining(), 0);
  assert.equal(b.take(), false);
  now = 180_001; // the first restart left the window
  assert.equal(b.take(), true);
  assert.equal(b.take(), false);
  b.reset();
  assert.equal(b.take(), true);
});

test('cluster connection states read as what to expect', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const c = (status: ClusterInfo['connection']['status'], extra: Partial<ClusterInfo['connection']> = {}) => ({ status, message: null, since: '2026-01-01T00:00:00Z', retryAt: null, ...extra });
  assert.equal(connectionDescription(c('backoff', { retryAt: '2026-01-01T00:00:12Z' }), now), 'retry in 12 s');
  assert.equal(connectionDescription(c('waiting-for-user'), now), 'waiting for your answer');
  assert.equal(connectionDescription(c('failed', { message: 'host key for cluster hpc changed\nremove it with ssh-keygen -R' }), now), 'failed: host key for cluster hpc changed');
  assert.equal(connectionIcon(c('ready')).id, 'vm-active');
  const info: ClusterInfo = { id: '00000000-0000-4000-8000-000000000001', name: 'hpc', kind: 'ssh', sshAlias: null, host: 'login', port: 2222, user: 'u', identityFile: null, knownHostsFile: '/k', sshConfigFile: null, createdAt: '2026-01-01T00:00:00Z', connection: c('ready') };
  const tip = clusterTooltip(info, { name: 'hpc', commandsLastMinute: 4, connectionsLastMinute: 1, connectionsPerMinuteCap: 2, pollIntervalMs: 30_000, lastPollAt: null, nextPollAt: null, paused: null });
  assert.match(tip, /u@login:2222/);
  assert.match(tip, /new SSH connections in the last minute: 1 of 2/);
  const local = clusterTooltip({ ...info, kind: 'local', host: null, port: null, user: null, knownHostsFile: '' }, { name: 'hpc', commandsLastMinute: 4, connectionsLastMinute: 0, connectionsPerMinuteCap: 2, pollIntervalMs: 30_000, lastPollAt: null, nextPollAt: null, paused: null });
  assert.match(local, /^hpc: this machine/);
  assert.doesNotMatch(local, /SSH connections/, 'a local cluster opens no SSH connection');
});

test('model versions show alias badges and a headline metric; metrics go in the tooltip', () => {
  const v: ModelVersionInfo = {
    model: 'digits', version: 3, aliases: ['staging', 'prod'], cluster: 'hpc', artifactPath: '/a', artifacts: [],
    metrics: { accuracy: 0.9712, loss: 0.1 }, evaluation: null, trainingJob: '00000000-0000-4000-8000-000000000001',
    gitCommit: 'abcdef1234567890', tags: { lr: '0.1' }, note: null, createdAt: '2026-01-01T00:00:00Z',
  };
  assert.equal(versionDescription(v), '[prod] [staging] · accuracy 0.9712');
  assert.equal(versionContextValue(v), 'modelVersion.prod');
  assert.match(versionTooltip(v), /training metrics:\n {2}accuracy: 0\.9712\n {2}loss: 0\.1000/);
  assert.equal(versionContextValue({ ...v, aliases: [] }), 'modelVersion');
});

test('inputs are checked inline with the daemon own rules', () => {
  const cpus: TemplateVariable = { name: 'cpus', type: 'integer', description: '', required: false, default: 1, values: null, pattern: null, min: 1, max: 64 };
  assert.equal(validateVariable(cpus, '4'), undefined);
  assert.match(validateVariable(cpus, '0') ?? '', /cpus/);
  assert.match(validateVariable(cpus, 'four') ?? '', /cpus/);
  assert.equal(variableValue(cpus, '4'), 4);
  assert.equal(variableValue(cpus, ''), undefined, 'empty leaves the default to the template');
  const mem: TemplateVariable = { ...cpus, name: 'mem', type: 'memory', default: null, min: null, max: null, required: true };
  assert.match(validateVariable(mem, '') ?? '', /required/);
  assert.equal(validateVariable(mem, '16G'), undefined);
  assert.notEqual(validateVariable(mem, '16 GB'), undefined);
  assert.equal(validateClusterName('hpc-1'), undefined);
  assert.notEqual(validateClusterName('my cluster'), undefined);
  assert.notEqual(validateClusterField('identityFile', 'id_rsa'), undefined, 'a key path must be absolute');
  assert.equal(validateClusterField('user', 'alice'), undefined);
  assert.notEqual(validatePort('70000'), undefined);
});

test('slurmMl.clusters: valid entries kept, bad ones named with their field, duplicates refused, known clusters left alone', () => {
  const r = readClusterSettings([
    { name: 'hpc', sshAlias: 'hpc' },
    { name: 'lab', host: 'login.lab.example', port: 2222, user: 'ana', identityFile: '/home/ana/.ssh/id_ed25519' },
    { name: 'bad', host: 'x y' },
    { name: 'nohost' },
    { name: 'hpc', sshAlias: 'other' },
    'nonsense',
  ]);
  assert.deepEqual(r.valid.map((c) => c.name), ['hpc', 'lab']);
  assert.equal(r.problems.length, 4);
  assert.match(r.problems[0]!, /"bad": host: a host is a DNS name/);
  assert.match(r.problems[1]!, /"nohost": host: give --host or --ssh-alias/);
  assert.match(r.problems[2]!, /"hpc": declared twice/);
  assert.match(r.problems[3]!, /#6/);
  assert.deepEqual(readClusterSettings(undefined), { valid: [], problems: [] });
  assert.deepEqual(readClusterSettings({ name: 'x' }).problems, ['slurmMl.clusters must be a list of clusters']);
  assert.deepEqual(clustersToAdd(r.valid, ['hpc']).map((c) => c.name), ['lab']);
});

test('this machine as a cluster is named after its short host name, unless that is taken or not a valid name', () => {
  assert.equal(localClusterName('login1.hpc.example.edu', []), 'login1');
  assert.equal(localClusterName('login1.hpc.example.edu', ['login1', 'login1-2']), 'login1-3');
  assert.equal(localClusterName('_weird host', []), 'local');
});

test('a job whose final state is unknown (no accounting) is not announced as a failure', () => {
  const base = { id: 'x', name: 'train', cluster: 'noacct', slurmJobId: '7', exitCode: null, terminal: true } as unknown as JobInfo;
  assert.equal(jobEndNotice({ terminal: false }, { ...base, state: 'ENDED' }, 'failed'), null);
  assert.deepEqual(jobEndNotice({ terminal: false }, { ...base, state: 'ENDED' }, 'all'), { kind: 'info', message: 'Job train (#7) on noacct ended; its final state is unknown (noacct keeps no accounting).' });
  assert.equal(jobEndNotice({ terminal: false }, { ...base, state: 'FAILED' }, 'failed')?.kind, 'error');
});
