import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClusterEnv, parseExports } from '../integration/clusterEnv';

test('parseExports reads values the way sh would', () => {
  const text = [
    '# comment',
    "export A='plain'",
    "export B='it'\\''s'",
    'export C="dq \\"x\\""',
    'export D=bare',
    "export E=''",
    "export F='a b' # trailing",
    'not an export',
    "export G='SHA256:y0L/+x='",
  ].join('\n');
  const vars = parseExports(text);
  // Compare with what a real shell makes of the same file.
  const dir = mkdtempSync(join(tmpdir(), 'clusterenv-'));
  try {
    const file = join(dir, 'env.sh');
    writeFileSync(file, text.replace('not an export', ''));
    for (const [k, v] of Object.entries(vars)) {
      const sh = execFileSync('/bin/sh', ['-c', `. "$1"; printf %s "$${k}"`, 'sh', file], { encoding: 'utf8' });
      assert.equal(v, sh, k);
    }
    assert.deepEqual(Object.keys(vars), ['A', 'B', 'C', 'D', 'E', 'F', 'G']);

    writeFileSync(
      file,
      [
        "export SLURM_ML_TEST_HOST='127.0.0.1'",
        "export SLURM_ML_TEST_PORT='2222'",
        "export SLURM_ML_TEST_USER='hpcuser'",
        "export SLURM_ML_TEST_IDENTITY='/k/id'",
        "export SLURM_ML_TEST_KNOWN_HOSTS='/k/kh'",
        "export SLURM_ML_TEST_HOSTKEY_FP='SHA256:abc'",
        "export SLURM_ML_TEST_PARTITIONS='debug long'",
      ].join('\n'),
    );
    const env = loadClusterEnv(file);
    assert.equal(env.port, 2222);
    assert.deepEqual(env.partitions, ['debug', 'long']);
    assert.equal(env.hostKeyFingerprint, 'SHA256:abc');
    assert.throws(() => loadClusterEnv(join(dir, 'missing.sh')), /cluster:up/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
