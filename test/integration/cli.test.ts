// The vertical slice as a user drives it: the `slurm-ml` CLI starts a daemon,
// which submits over real SSH to the real local SLURM cluster
// (test/cluster/up.sh); every job's final state is read back through the CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, type CliResult } from './cliHarness';
import { connectToRunningDaemon } from '../../daemon/client';
import { statePaths } from '../../daemon/state';
import { ErrorCode, JobsSubmit, type JobDetail, type JobInfo, type RuntimeEstimate } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { SshSession } from '../../daemon/ssh/session';
import { scontrolShowJobCommand } from '../../daemon/slurm/commands';
import { parseScontrolJobs } from '../../daemon/slurm/scontrol';

let env: ClusterEnv;
const h = new CliHarness({ prefix: 'slurm-ml-cli-' });

before(async () => {
  env = loadClusterEnv();
  h.open();
  await h.addLocalCluster(env);
});

after(() => h.close());

describe('slurm-ml against the local cluster', () => {
  // The TIMEOUT job takes 60-90 s (SLURM's 1-minute minimum and ~30 s enforcement
  // granularity), so it is submitted first and checked last.
  let timeoutJob: Promise<CliResult>;
  before(() => {
    timeoutJob = h.run(['submit', h.script('too-long.sh', 'sleep 600'), '--cluster', 'local', '--wait', '--json', '--', '--time=1'], 240_000);
  });

  test('cluster test connects, verifies the pinned host key and finds SLURM', async () => {
    const r = await h.json<{ hostKeyFingerprint: string; remoteUser: string; slurmVersion: string | null }>(['cluster', 'test', 'local']);
    assert.equal(r.hostKeyFingerprint, env.hostKeyFingerprint);
    assert.equal(r.remoteUser, env.user);
    assert.match(r.slurmVersion ?? '', /^slurm/);
  });

  test('a submitted job keeps the runtime estimate made when it was submitted, the one `estimate` gave just before', async () => {
    const file = h.script('estimated.sh', '#SBATCH --time=7\n#SBATCH --job-name=estimated\necho estimated');
    const before = await h.json<RuntimeEstimate>(['estimate', file, '--cluster', 'local']);
    assert.notEqual(before.source, 'none');
    const r = await h.run(['submit', file, '--cluster', 'local', '--wait', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout) as JobInfo;
    assert.ok(job.estimate, 'the job carries its estimate');
    assert.equal(job.estimate.source, before.source);
    assert.equal(job.estimate.modelVersion, before.modelVersion);
    // A model's features include the moment of submission; history and the request do not move.
    if (before.source === 'model') assert.ok(Math.abs(job.estimate.p50! - before.p50!) <= 0.05 * before.p50!, `${job.estimate.p50} vs ${before.p50}`);
    else assert.deepEqual([job.estimate.p10, job.estimate.p50, job.estimate.p90], [before.p10, before.p50, before.p90]);
    // Kept as it was: reading the job later gives the same estimate.
    const read = await h.json<JobDetail>(['job', job.id]);
    assert.deepEqual(read.estimate, job.estimate);
  });

  test('a job that exits 0 ends COMPLETED; --wait exits 0', async () => {
    const r = await h.run(['submit', h.script('ok.sh', '#SBATCH --job-name=named-in-script\necho "hello from $SLURM_JOB_ID"'), '--cluster', 'local', '--wait', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout) as JobInfo;
    assert.equal(job.state, 'COMPLETED');
    assert.equal(job.name, 'named-in-script', "the script's own #SBATCH --job-name is kept");
    assert.equal(job.exitCode, 0);
    assert.ok(job.startTime && job.endTime, 'start and end times recorded');
    const read = await h.json<JobDetail>(['job', job.slurmJobId!]);
    assert.equal(read.id, job.id);
    assert.equal(read.state, 'COMPLETED');
    assert.match(read.script, /echo "hello from \$SLURM_JOB_ID"/);
    assert.equal(read.stdoutPath, `${read.runDir}/slurm-${job.slurmJobId}.out`);
  });

  test('a job that exits 3 ends FAILED with exit code 3; --wait exits 4', async () => {
    const r = await h.run(['submit', h.script('fail.sh', 'echo about to fail; exit 3'), '--cluster', 'local', '--wait', '--json']);
    assert.equal(r.code, 4, r.stderr);
    const job = JSON.parse(r.stdout) as JobInfo;
    assert.equal(job.state, 'FAILED');
    assert.equal(job.exitCode, 3);
    const listed = await h.json<{ jobs: JobInfo[] }>(['jobs']);
    assert.equal(listed.jobs.find((j) => j.id === job.id)?.state, 'FAILED');
  });

  test('a running job cancelled with `slurm-ml cancel` ends CANCELLED', async () => {
    const submitted = await h.json<JobInfo>(['submit', h.script('sleeper.sh', 'sleep 600'), '--cluster', 'local', '--name', 'to be cancelled']);
    assert.match(submitted.slurmJobId ?? '', /^\d+$/);
    await h.waitForJob(submitted.id, (j) => j.state === 'RUNNING', 'RUNNING');
    const r = await h.run(['cancel', submitted.id.slice(0, 8)]);
    assert.equal(r.code, 0, r.stderr);
    const done = await h.waitForJob(submitted.id, (j) => j.terminal, 'terminal', 60_000);
    assert.equal(done.state, 'CANCELLED');
    const again = await h.run(['cancel', submitted.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already ended \(CANCELLED\)/);
  });

  test("names and paths with ', ;, $(…), backticks, spaces and newlines are submitted literally; nothing runs", async () => {
    // Relative markers: a command that ran would create them in its working directory
    // (the run directory or the user's home on the cluster, or here).
    const marker = `slurm-ml-injected-${process.pid}`;
    const evilDir = path.join(h.work, `dir with 'quotes'; $(touch ${marker}-dir)`);
    fs.mkdirSync(evilDir);
    const fileName = `it's; $(touch ${marker}-file) \`touch ${marker}-tick\`\nline2.sh`;
    const file = path.join(evilDir, fileName);
    fs.writeFileSync(file, '#!/bin/bash\necho "$SLURM_JOB_NAME"\n');
    const name = `job's; $(touch ${marker}-name) \`touch ${marker}-tick2\` & | > x`;
    const r = await h.run(['submit', file, '--cluster', 'local', '--name', name, '--wait', '--json', '--', `--comment=$(touch ${marker}-comment); '`]);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout) as JobDetail;
    assert.equal(job.state, 'COMPLETED');
    assert.equal(job.name, name);
    // What SLURM itself recorded, read over SSH.
    const ssh = new SshSession({ name: 'check', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
    try {
      const sc = await ssh.exec(scontrolShowJobCommand(job.slurmJobId!));
      const parsed = parseScontrolJobs(sc.stdout);
      assert.ok(parsed.ok, sc.stdout + sc.stderr);
      const rec = parsed.value[0]!;
      assert.equal(rec.jobName, name);
      assert.equal(rec.comment, `$(touch ${marker}-comment); '`);
      assert.equal(path.posix.basename(rec.command ?? ''), `it's; $(touch ${marker}-file) \`touch ${marker}-tick\`_line2.sh`);
      const out = await ssh.readFile(`${job.runDir}/slurm-${job.slurmJobId}.out`);
      assert.equal(out.toString(), `${name}\n`);
    } finally {
      await ssh.close();
    }
    const home = path.dirname(path.dirname(path.dirname(job.runDir)));
    const touched = [home, job.runDir, os.tmpdir(), process.cwd(), h.work].flatMap((d) =>
      fs.readdirSync(d).filter((f) => f.startsWith(marker)).map((f) => path.join(d, f)),
    );
    assert.deepEqual(touched, [], 'a command in a name or path was executed');
  });

  test('a job name with a newline is refused with a clear error before anything is submitted', async () => {
    const before = (await h.json<{ jobs: JobInfo[] }>(['jobs'])).jobs.length;
    const r = await h.run(['submit', h.script('nl.sh', 'true'), '--cluster', 'local', '--name', 'two\nlines']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /params\.name: a job name must be one line/);
    assert.equal((await h.json<{ jobs: JobInfo[] }>(['jobs'])).jobs.length, before);
  });

  test('sbatch refusing a job is a SlurmCommandFailed error with its message; the attempt is recorded', async () => {
    const r = await h.run(['submit', h.script('badpart.sh', 'true'), '--cluster', 'local', '--', '--partition=no-such-partition']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sbatch on local refused the job: .*invalid partition/i);
    const d = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'cli-test' });
    assert.ok(d, 'daemon is running');
    try {
      await assert.rejects(
        d.rpc.request(JobsSubmit, { cluster: 'local', script: '#!/bin/sh\ntrue\n', scriptName: 'x.sh', sbatchArgs: ['--qos=no-such-qos'] }),
        (err: unknown) => err instanceof RpcError && err.code === ErrorCode.SlurmCommandFailed && /qos/i.test(err.message),
      );
    } finally {
      d.rpc.close();
    }
    const { jobs } = await h.json<{ jobs: JobInfo[] }>(['jobs']);
    const failed = jobs.filter((j) => j.state === 'SUBMIT_FAILED');
    assert.ok(failed.length >= 2, 'refused submissions are kept with their reason');
    assert.ok(failed.every((j) => j.terminal && j.reason));
  });

  test('a job over its time limit ends TIMEOUT; --wait exits 4', async () => {
    const r = await timeoutJob;
    assert.equal(r.code, 4, r.stderr);
    const job = JSON.parse(r.stdout) as JobInfo;
    assert.equal(job.state, 'TIMEOUT');
    assert.equal(job.requested.timeLimitSeconds, 60);
    const read = await h.json<JobDetail>(['job', `local:${job.slurmJobId}`]);
    assert.equal(read.state, 'TIMEOUT');
    // Resubmitting after a TIMEOUT proposes twice the time; without a terminal it needs --yes.
    const refused = await h.run(['resubmit', job.id]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ended TIMEOUT at its limit of 00:01:00: twice the time[\s\S]*confirm with --yes \(would use --time=00:02:00\)/);
    const again = await h.json<JobInfo>(['resubmit', job.id, '--yes']);
    assert.equal(again.resubmittedFrom, job.id);
    assert.notEqual(again.slurmJobId, job.slurmJobId);
    assert.equal(again.requested.timeLimitSeconds, 120);
    assert.equal((await h.json<JobDetail>(['job', again.id])).script, read.script);
    assert.equal((await h.run(['cancel', again.id])).code, 0);
  });
});

describe('host keys', () => {
  test('a host key that does not match known_hosts fails `cluster test` with the offered fingerprint', async () => {
    const other = path.join(h.work, 'other_key');
    await new Promise<void>((res, rej) => execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other], (e) => (e ? rej(e) : res())));
    const pub = fs.readFileSync(`${other}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    const kh = path.join(h.work, 'known_hosts_wrong');
    fs.writeFileSync(kh, `[${env.host}]:${env.port} ${pub}\n`);
    const add = await h.run(['cluster', 'add', 'spoofed', '--host', env.host, '--port', String(env.port), '--user', env.user, '--identity', env.identityFile, '--known-hosts', kh]);
    assert.equal(add.code, 0, add.stderr);
    const r = await h.run(['cluster', 'test', 'spoofed']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(env.hostKeyFingerprint), `fingerprint missing from: ${r.stderr}`);
    assert.match(r.stderr, /changed|does not match/i);
    const list = await h.json<{ clusters: { name: string; connection: { status: string } }[] }>(['cluster', 'list']);
    assert.equal(list.clusters.find((c) => c.name === 'spoofed')?.connection.status, 'failed');
  });

  test('an unknown host key is refused with its fingerprint', async () => {
    const kh = path.join(h.work, 'known_hosts_empty');
    fs.writeFileSync(kh, '');
    const add = await h.run(['cluster', 'add', 'stranger', '--host', env.host, '--port', String(env.port), '--user', env.user, '--identity', env.identityFile, '--known-hosts', kh]);
    assert.equal(add.code, 0, add.stderr);
    const r = await h.run(['cluster', 'test', 'stranger']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(env.hostKeyFingerprint), `fingerprint missing from: ${r.stderr}`);
    const s = await h.run(['submit', h.script('never.sh', 'true'), '--cluster', 'stranger']);
    assert.equal(s.code, 1);
    assert.ok(s.stderr.includes(env.hostKeyFingerprint));
  });
});
