// sbatch replies, versions, sinfo partitions and error classification, from
// the recorded fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySlurmError } from '../../daemon/slurm/errors';
import { parseSbatchOutput } from '../../daemon/slurm/sbatch';
import { parseSinfo, parseSinfoRows } from '../../daemon/slurm/sinfo';
import { parseSlurmVersion, versionAtLeast } from '../../daemon/slurm/version';
import { fixture, fixtureEntry, jobIdOf, manifest } from '../fixtures/slurm/fixtures';

test('sbatch --parsable: `ID` and `ID;CLUSTER`', () => {
  assert.deepEqual(parseSbatchOutput(fixture('sbatch-parsable.txt')), { ok: true, value: { jobId: jobIdOf('completed'), cluster: null }, issues: [] });
  const c = parseSbatchOutput(fixture('sbatch-parsable-cluster.txt'));
  assert.ok(c.ok);
  assert.equal(c.value.cluster, 'slurmml');
  assert.match(c.value.jobId, /^\d+$/);
});

test('sbatch without --parsable: `Submitted batch job ID [on cluster X]`', () => {
  const r = parseSbatchOutput(fixture('sbatch-plain.txt'));
  assert.ok(r.ok);
  assert.equal(r.value.jobId, jobIdOf('plain'));
  assert.deepEqual(parseSbatchOutput('Submitted batch job 1 on cluster x\n'), { ok: true, value: { jobId: '1', cluster: 'x' }, issues: [] });
});

test('sbatch replies among other lines; no reply is a typed error', () => {
  const r = parseSbatchOutput('Welcome to the cluster!\r\n4242\r\n');
  assert.ok(r.ok);
  assert.equal(r.value.jobId, '4242');
  assert.equal(r.issues.length, 1);
  for (const bad of ['', '\n', 'sbatch: error: nope', '12a', '-1', 'Submitted batch job', 'Submitted batch job x']) {
    const e = parseSbatchOutput(bad);
    assert.equal(e.ok, false, bad);
    assert.equal(!e.ok && e.error.kind, 'slurm-parse-error');
  }
});

test('sbatch refusals are classified from stderr', () => {
  const part = classifySlurmError(fixture('sbatch-error-partition.stderr.txt'));
  assert.equal(part.kind, 'submission-rejected');
  assert.equal(part.message, 'Batch job submission failed: Invalid partition name specified');
  assert.equal(fixtureEntry('sbatch-error-partition.stderr.txt').exitCode, 1);
  assert.equal(classifySlurmError(fixture('sbatch-error-qos.stderr.txt')).kind, 'submission-rejected');
  const script = classifySlurmError(fixture('sbatch-error-script.stderr.txt'));
  assert.equal(script.kind, 'script-unreadable');
  assert.match(script.message, /^Unable to open file /);
});

test('unknown job ids: squeue and scontrol exit 1 with `Invalid job id specified`', () => {
  for (const f of ['squeue-unknown-id.stderr.txt', 'scontrol-unknown-id.stderr.txt']) {
    assert.equal(fixtureEntry(f).exitCode, 1, f);
    assert.deepEqual(classifySlurmError(fixture(f)), { kind: 'invalid-job-id', message: 'Invalid job id specified' });
  }
  // scancel of a job that already ended says nothing and exits 0.
  assert.equal(fixture('scancel-ended.stderr.txt'), '');
  assert.equal(fixtureEntry('scancel-ended.stderr.txt').exitCode, 0);
});

test('other stderr', () => {
  // sacct on test/cluster/noacct.sh's cluster (no slurmdbd), as it printed it; slurmdbd down is another thing.
  assert.equal(classifySlurmError('Slurm accounting storage is disabled').kind, 'accounting-disabled');
  assert.equal(classifySlurmError('sacct: error: Problem talking to the database: Connection refused').kind, 'controller-unreachable');
  assert.equal(classifySlurmError('squeue: error: Unable to contact slurm controller (connect failure)').kind, 'controller-unreachable');
  assert.equal(classifySlurmError('bash: line 1: squeue: command not found').kind, 'command-not-found');
  assert.equal(classifySlurmError("env: 'squeue': No such file or directory").kind, 'command-not-found');
  assert.equal(classifySlurmError('scancel: error: Kill job error on job id 5: Access/permission denied').kind, 'permission-denied');
  assert.deepEqual(classifySlurmError(''), { kind: 'unknown', message: '' });
  assert.equal(classifySlurmError('\u0000\u0001garbage').kind, 'unknown');
});

test('versions', () => {
  const v = parseSlurmVersion(fixture('sbatch-version.txt'));
  assert.ok(v.ok);
  assert.deepEqual([v.value.major, v.value.minor], [22, 5]);
  assert.equal(v.value.distribution, 'slurm-wlm');
  assert.equal(v.value.text, manifest.slurmVersion.split(' ')[1]);
  assert.deepEqual(parseSlurmVersion(fixture('squeue-version.txt')), v);
  assert.ok(versionAtLeast(v.value, 22, 5));
  assert.ok(!versionAtLeast(v.value, 23));
  const rh = parseSlurmVersion('slurm 20.11.9-1.el8\n');
  assert.ok(rh.ok);
  assert.deepEqual([rh.value.major, rh.value.minor, rh.value.patch, rh.value.text], [20, 11, 9, '20.11.9-1.el8']);
  assert.equal(parseSlurmVersion('bash: sbatch: command not found').ok, false);
  assert.equal(parseSlurmVersion('').ok, false);
});

test('sinfo: partitions with their limits', () => {
  const r = parseSinfo(fixture('sinfo.txt'));
  assert.ok(r.ok);
  assert.deepEqual(r.value.map((p) => p.name), ['debug', 'long']);
  const [debug, long] = r.value as [(typeof r.value)[0], (typeof r.value)[0]];
  assert.equal(debug.isDefault, true);
  assert.equal(long.isDefault, false);
  assert.equal(debug.maxTimeSeconds, 600);
  assert.equal(debug.defaultTimeSeconds, 300);
  assert.equal(long.maxTimeSeconds, 86400);
  assert.equal(long.defaultTimeSeconds, 3600);
  assert.equal(debug.avail, 'up');
  assert.equal(debug.nodes, 1);
  assert.equal(debug.cpusByState!.total, 2);
  assert.equal(debug.maxCpusPerNode, 2);
  assert.equal(debug.maxMemoryPerNodeMb, 18432);
  assert.deepEqual(debug.gres, []);
  assert.equal(debug.jobSize, '1-infinite');
  assert.deepEqual(debug.nodeLists, ['vm']);
});

test('sinfo: lines of one partition are merged; unlimited time', () => {
  const sep = '\x1f';
  const out = [
    ['gpu', 'gpu', 'up', 'infinite', 'n/a', '2', '1/1/0/2', '8/56/0/64', '32', '256000', 'gpu:a100:4', '1-infinite', 'g[1-2]'].join(sep),
    ['gpu', 'gpu', 'up', 'infinite', 'n/a', '1', '0/0/1/1', '0/0/16/16', '16+', '128000', 'gpu:v100:2', '1-infinite', 'g3'].join(sep),
    'garbage line',
  ].join('\n');
  const r = parseSinfo(out);
  assert.ok(r.ok);
  assert.equal(r.issues.length, 1);
  const [gpu] = r.value;
  assert.equal(gpu!.nodes, 3);
  assert.equal(gpu!.maxTimeSeconds, null);
  assert.equal(gpu!.maxTimeUnlimited, true);
  assert.equal(gpu!.defaultTimeSeconds, null);
  assert.deepEqual(gpu!.nodesByState, { allocated: 1, idle: 1, other: 1, total: 3 });
  assert.equal(gpu!.minCpusPerNode, 16);
  assert.equal(gpu!.maxCpusPerNode, 32);
  assert.deepEqual(gpu!.gres, ['gpu:a100:4', 'gpu:v100:2']);
  assert.equal(parseSinfoRows('x').ok, false);
});
