// A batch script saved on Windows (CRLF line endings) against the real local
// cluster: sbatch itself refuses it, slurm-ml converts it on upload, says so,
// and the job runs with the directives sbatch read from it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import { SshSession } from '../../daemon/ssh/session';
import type { JobDetail, JobInfo, RuntimeEstimate } from '../../daemon/protocol';

let env: ClusterEnv;
const h = new CliHarness({ prefix: 'slurm-ml-crlf-' });

// The job reports whether the script slurmd runs ($0, its copy of what sbatch was given) still holds a CR.
const lines = [
  '#!/bin/bash',
  '#SBATCH --job-name=from-windows',
  '#SBATCH --time=3',
  'echo "crlf job $((40 + 2))"',
  "if grep -q $'\\r' \"$0\"; then echo 'CR in the script'; else echo 'no CR in the script'; fi",
];
const crlfScript = lines.join('\r\n') + '\r\n';

before(async () => {
  env = loadClusterEnv();
  h.open();
  await h.addLocalCluster(env);
});

after(() => h.close());

test('sbatch on the cluster refuses a CRLF script ("DOS line breaks"): what the conversion is for', async () => {
  const s = new SshSession({ name: 'crlf', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  try {
    const r = await s.exec(['sbatch', '--test-only'], { stdin: crlfScript, timeoutMs: 30_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /DOS line breaks/);
  } finally {
    await s.close();
  }
});

test('a CRLF script: the estimate says it will be converted; submitted, it runs with its directives, converted', async () => {
  const file = path.join(h.work, 'windows.sbatch');
  fs.writeFileSync(file, crlfScript);

  const e = await h.json<RuntimeEstimate>(['estimate', file, '--cluster', 'local']);
  assert.deepEqual(e.problems, [], 'no "DOS line breaks" error: that is what submit fixes');
  assert.equal(e.timeLimitSeconds, 180, '--time=3 is read without its \\r');
  assert.deepEqual(
    (e.notices ?? []).map((n) => [n.code, n.line]),
    [['crlf-converted', 1]],
  );
  assert.match(e.notices![0]!.message, /5 lines.*converts them to Unix line endings \(LF\) when it uploads/);

  const r = await h.run(['submit', file, '--cluster', 'local', '--wait', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^note: .*windows\.sbatch: Windows line endings \(CRLF\) on 5 lines/m);
  const job = JSON.parse(r.stdout) as JobInfo;
  assert.equal(job.state, 'COMPLETED');
  assert.equal(job.name, 'from-windows', "the script's #SBATCH --job-name, as sbatch read it");
  const detail = await h.json<JobDetail>(['job', job.id]);
  assert.equal(detail.requested.timeLimitSeconds, 180);
  assert.equal(detail.script, lines.join('\n') + '\n', 'the record holds the script as uploaded');
  const log = await h.run(['logs', job.id, '--bytes', 'all']);
  assert.equal(log.code, 0, log.stderr);
  assert.equal(log.stdout, 'crlf job 42\nno CR in the script\n');
  // The file on disk is the user's and stays as it was.
  assert.equal(fs.readFileSync(file, 'utf8'), crlfScript);
});
