// The cluster's SLURM version, read by the daemon when it connects, as
// `slurm-ml cluster test` reports it: the same release `sinfo --version`
// prints on the cluster when asked directly over SSH.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import type { ClusterTestResult } from '../../daemon/protocol';
import { SshSession } from '../../daemon/ssh/session';
import { parseSlurmVersion, slurmVersionCommand } from '../../daemon/slurm/version';

let env: ClusterEnv;
const h = new CliHarness({ prefix: 'slurm-ml-slurmver-' });

before(async () => {
  env = loadClusterEnv();
  h.open();
  await h.addLocalCluster(env);
});

after(() => h.close());

test('cluster test reports the version the cluster prints, read and in the checked range', async () => {
  const ssh = new SshSession({ name: 'check', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  let printed: string;
  try {
    printed = (await ssh.exec(slurmVersionCommand())).stdout;
  } finally {
    await ssh.close();
  }
  const expected = parseSlurmVersion(printed);
  assert.ok(expected.ok, printed);

  const r = await h.json<ClusterTestResult>(['cluster', 'test', 'local']);
  assert.equal(r.slurmVersion, printed.trim(), 'the raw line, as before');
  assert.deepEqual(r.slurm, {
    version: expected.value.text,
    major: expected.value.major,
    minor: expected.value.minor,
    patch: expected.value.patch,
    distribution: expected.value.distribution,
    supported: true,
    note: '',
  });

  const text = await h.run(['cluster', 'test', 'local']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`slurm +${printed.trim().replace(/\./g, '\\.')}\\n`));
});
