// The local cluster kind's session (daemon/local/session.ts): commands run
// with argv straight to the program (no shell), `~` is the user's home,
// files are written and read as SFTP would, and a missing file is the error
// the log follower recognises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalSession } from '../../daemon/local/session';
import { isMissingRemoteFile } from '../../daemon/jobs/logs';
import { createLogger } from '../../daemon/log';
import { ErrorCode } from '../../daemon/protocol';

const log = createLogger({ level: 'error', write: () => {} });

function session() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-localsession-'));
  return { home, s: new LocalSession('here', log, home) };
}

test('argv reaches the program as given: nothing is interpreted by a shell', async () => {
  const { s, home } = session();
  const tricky = '$(touch pwned); `id`; "quoted" \'single\' * ~';
  const r = await s.exec(['printf', '%s', tricky], { cwd: '~' });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, tricky);
  assert.equal(fs.existsSync(path.join(home, 'pwned')), false);
});

test('stdin, the working directory under ~, exit codes and stderr', async () => {
  const { s, home } = session();
  fs.mkdirSync(path.join(home, 'runs'));
  const cat = await s.exec(['cat'], { stdin: 'line one\nline two\n' });
  assert.equal(cat.stdout, 'line one\nline two\n');
  const pwd = await s.exec(['pwd'], { cwd: '~/runs' });
  assert.equal(pwd.stdout.trim(), path.join(home, 'runs'));
  const fail = await s.exec(['ls', '--', path.join(home, 'absent')]);
  assert.notEqual(fail.code, 0);
  assert.match(fail.stderr, /absent/);
});

test('a program that is not installed answers as a shell would (exit 127, "command not found")', async () => {
  const { s } = session();
  const r = await s.exec(['sbatch-that-is-not-here', '--version']);
  assert.equal(r.code, 127);
  assert.match(r.stderr, /sbatch-that-is-not-here: command not found/);
});

test('a command past its time limit is killed and the call fails as a timeout', async () => {
  const { s } = session();
  const started = Date.now();
  await assert.rejects(s.exec(['sleep', '30'], { timeoutMs: 200 }), (e: { code?: number; message: string }) => e.code === ErrorCode.SshTimeout && /timed out after 200 ms/.test(e.message));
  assert.ok(Date.now() - started < 10_000);
});

test('files: private directories, modes as asked, ranges, and a missing file the log follower recognises', async () => {
  const { s, home } = session();
  await s.mkdirp('~/.slurm-ml/runs/abc');
  assert.equal(fs.statSync(path.join(home, '.slurm-ml', 'runs', 'abc')).mode & 0o777, 0o700);
  await s.writeFile('~/.slurm-ml/runs/abc/job.sh', '#!/bin/sh\necho hi\n', 0o700);
  await s.writeFile('~/.slurm-ml/runs/abc/config.json', '{"lr": 0.1}', 0o600);
  assert.equal(fs.statSync(path.join(home, '.slurm-ml', 'runs', 'abc', 'config.json')).mode & 0o777, 0o600);
  const st = await s.stat('~/.slurm-ml/runs/abc/job.sh');
  assert.equal(st.size, 18);
  assert.equal((await s.readRange('~/.slurm-ml/runs/abc/job.sh', 10, 100)).toString(), 'echo hi\n');
  assert.equal((await s.readRange('~/.slurm-ml/runs/abc/job.sh', 50, 10)).length, 0, 'nothing past the end');
  assert.equal(await s.homeDir(), home);
  const missing = await s.stat('~/nope.out').catch((e: unknown) => e);
  assert.equal(isMissingRemoteFile(missing), true, String(missing));
  const denied = await s.readRange('/proc/1/mem', 0, 10).catch((e: unknown) => e);
  assert.equal(isMissingRemoteFile(denied), false, 'a file that exists but cannot be read is not "missing"');
});
