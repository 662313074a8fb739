// `scontrol --oneliner show job` lines from the recorded fixtures, and the
// Key=Value splitting on values that hold spaces and look-alike keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScontrolJobLine, parseScontrolJobs, splitScontrolPairs } from '../../daemon/slurm/scontrol';
import type { ScontrolJob } from '../../daemon/slurm/scontrol';
import { fixture, jobIdOf, manifest } from '../fixtures/slurm/fixtures';

const UTC = { timeZone: 'UTC' as const };

function jobs(file: string): ScontrolJob[] {
  const r = parseScontrolJobs(fixture(file), UTC);
  assert.ok(r.ok, `${file}: ${JSON.stringify(!r.ok && r.error)}`);
  assert.deepEqual(r.issues, [], file);
  return r.value;
}

function one(file: string): ScontrolJob {
  const list = jobs(file);
  assert.equal(list.length, 1, file);
  return list[0]!;
}

test('completed: state, exit code, times, resources, paths', () => {
  const j = one('scontrol-completed.txt');
  assert.equal(j.jobId, jobIdOf('completed'));
  assert.equal(j.displayId, j.jobId);
  assert.equal(j.jobName, 'fixture-ok');
  assert.equal(j.state, 'COMPLETED');
  assert.equal(j.reason, null);
  assert.deepEqual(j.exitCode, { code: 0, signal: 0 });
  assert.equal(j.user, 'hpcuser');
  assert.equal(j.uid, 1001);
  assert.equal(j.group, 'hpcuser');
  assert.equal(j.partition, 'debug');
  assert.equal(j.qos, 'normal');
  assert.equal(j.account, 'research');
  assert.equal(j.timeLimitSeconds, 120);
  assert.equal(j.numNodes, 1);
  assert.equal(j.numCpus, 1);
  assert.equal(j.numTasks, 1);
  assert.equal(j.tres!.cpus, 1);
  assert.equal(j.tres!.memBytes, 256 * 1024 ** 2);
  assert.equal(j.minMemoryCpuBytes, 256 * 1024 ** 2);
  assert.equal(j.minMemoryNodeBytes, null);
  assert.equal(j.nodeList, 'vm');
  assert.equal(j.batchHost, 'vm');
  // Paths with a space in them (the recorder's run directory has one).
  assert.equal(j.workDir, manifest.remoteDir);
  assert.equal(j.command, `${manifest.remoteDir}/ok.sh`);
  assert.equal(j.stdOut, `${manifest.remoteDir}/slurm-${j.jobId}.out`);
  assert.equal(j.stdErr, j.stdOut);
  assert.equal(j.stdIn, '/dev/null');
  assert.ok(j.submitTime! <= j.startTime! && j.startTime! <= j.endTime!);
  assert.equal((Date.parse(j.endTime!) - Date.parse(j.startTime!)) / 1000, j.runTimeSeconds);
  assert.equal(j.fields.StartTime + '.000Z', j.startTime);
  assert.equal(j.fields['AllocNode:Sid']?.startsWith('localhost:'), true);
  assert.equal(j.fields.Power, '');
});

test('failed, cancelled, timeout: states and exit codes', () => {
  const failed = one('scontrol-failed.txt');
  assert.equal(failed.state, 'FAILED');
  assert.equal(failed.reason, 'NonZeroExitCode');
  assert.deepEqual(failed.exitCode, { code: 3, signal: 0 });
  const cancelled = one('scontrol-cancelled.txt');
  assert.equal(cancelled.state, 'CANCELLED');
  assert.deepEqual(cancelled.exitCode, { code: 0, signal: 15 });
  const timeout = one('scontrol-timeout.txt');
  assert.equal(timeout.state, 'TIMEOUT');
  assert.equal(timeout.reason, 'TimeLimit');
  assert.deepEqual(timeout.exitCode, { code: 0, signal: 15 });
  assert.equal(timeout.timeLimitSeconds, 60);
  assert.ok(timeout.runTimeSeconds! > 60);
  const running = one('scontrol-running.txt');
  assert.equal(running.state, 'RUNNING');
  assert.equal(running.jobId, jobIdOf('cancelled'));
});

test('pending: begin time, user hold, partition limit; and cancelled while pending', () => {
  const begin = one('scontrol-pending-begin.txt');
  assert.equal(begin.state, 'PENDING');
  assert.equal(begin.reason, 'BeginTime');
  assert.equal(begin.nodeList, null);
  assert.equal(begin.batchHost, null);
  assert.equal(begin.fields.AccrueTime, 'Unknown');
  assert.ok(begin.eligibleTime! > begin.submitTime!);
  assert.equal(one('scontrol-pending-held.txt').reason, 'JobHeldUser');
  const limit = one('scontrol-pending-limit.txt');
  assert.equal(limit.reason, 'PartitionTimeLimit');
  assert.equal(limit.timeLimitSeconds, 1800);
  const gone = one('scontrol-pending-cancelled.txt');
  assert.equal(gone.state, 'CANCELLED');
  assert.equal(gone.jobId, jobIdOf('pendingBegin'));
});

test('a job name with spaces, |, quotes, non-ASCII and a fake ` UserId=`', () => {
  const j = one('scontrol-weird.txt');
  assert.equal(j.jobName, manifest.jobs.weird!.name);
  assert.match(j.jobName, /UserId=fake$/);
  assert.equal(j.user, 'hpcuser');
  assert.equal(j.uid, 1001);
  assert.equal(j.state, 'COMPLETED');
  // Comment= is followed by two spaces in scontrol's output.
  assert.equal(j.comment, 'a comment with spaces');
});

test('array: one line per task, display ids like squeue and sacct', () => {
  const list = jobs('scontrol-array.txt');
  const arrayId = jobIdOf('array');
  assert.equal(list.length, 3);
  assert.deepEqual(list.map((j) => j.displayId).sort(), [`${arrayId}_1`, `${arrayId}_2`, `${arrayId}_3`]);
  for (const j of list) {
    assert.equal(j.arrayJobId, arrayId);
    assert.equal(j.state, 'COMPLETED');
    assert.match(j.stdOut!, /slurm-\d+_\d\.out$/);
  }
  const throttled = one('scontrol-throttled.txt');
  assert.equal(throttled.displayId, `${jobIdOf('throttled')}_[1-9%2]`);
  assert.equal(throttled.arrayTaskId, '1-9%2');
  assert.equal(throttled.arrayTaskThrottle, 2);
  assert.equal(throttled.state, 'PENDING');
});

test('QOS and partition other than the defaults', () => {
  const j = one('scontrol-steps.txt');
  assert.equal(j.qos, 'high');
  assert.equal(j.partition, 'long');
});

test('splitting: values with spaces, `=` and look-alike keys', () => {
  const line =
    'JobId=7 JobName=train lr=0.1 Epochs=3 UserId=me UserId=alice(1000) GroupId=alice(1000) JobState=RUNNING ' +
    'Reason=None Dependency=(null) Command=/a b/run.sh --x=1 UserId=y WorkDir=/w d StdErr=/w d/e.out StdIn=/dev/null StdOut=/w d/o.out Power= NewKey=z ';
  const pairs = Object.fromEntries(splitScontrolPairs(line));
  assert.equal(pairs.JobName, 'train lr=0.1 Epochs=3 UserId=me');
  assert.equal(pairs.UserId, 'alice(1000)');
  assert.equal(pairs.Command, '/a b/run.sh --x=1 UserId=y');
  assert.equal(pairs.WorkDir, '/w d');
  assert.equal(pairs.StdOut, '/w d/o.out');
  assert.equal(pairs.Power, '');
  // An unknown key after a value that is not free text is a key (newer SLURM releases add some).
  assert.equal(pairs.NewKey, 'z');
  const j = parseScontrolJobLine(line);
  assert.ok(typeof j !== 'string');
  assert.equal(j.user, 'alice');
  assert.equal(j.uid, 1000);
  assert.equal(j.state, 'RUNNING');
});

test('a free-text value swallows unknown keys and keys SLURM prints before it', () => {
  const line = 'JobId=8 JobName=x UserId=u(1) JobState=PENDING Reason=Some words Here=there Dependency=(null) WorkDir=/p JobState=oops Foo=bar StdOut=/o';
  const pairs = Object.fromEntries(splitScontrolPairs(line));
  assert.equal(pairs.Reason, 'Some words Here=there');
  assert.equal(pairs.WorkDir, '/p JobState=oops Foo=bar');
  assert.equal(pairs.JobState, 'PENDING');
  assert.equal(pairs.StdOut, '/o');
});

// Releases after the test cluster's 22.05 print other keys. `--oneliner` joins
// the lines of the multi-line form with single spaces (line_end = " ").
const oneLine = (text: string) => text.trim().split('\n').map((l) => l.trim()).filter(Boolean).join(' ');

test('23.02 and later: TRES= is split into ReqTRES= and AllocTRES=, which is (null) while pending', () => {
  // Published `scontrol show job` output of a pending job (a 2025 cluster; keys as in 23.11-25.05 job_info.c/info_job.c).
  const pending = parseScontrolJobLine(
    oneLine(`
JobId=89 JobName=interactive
   UserId=testuser(1001) GroupId=testgrp(1001) MCS_label=N/A
   Priority=1 Nice=0 Account=testgrp QOS=normal
   JobState=PENDING Reason=Resources Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=0 Reboot=0 ExitCode=0:0
   RunTime=00:00:00 TimeLimit=2-00:00:00 TimeMin=N/A
   SubmitTime=2025-07-09T12:24:44 EligibleTime=2025-07-09T12:24:44
   AccrueTime=2025-07-09T12:24:44
   StartTime=Unknown EndTime=Unknown Deadline=N/A
   SuspendTime=None SecsPreSuspend=0 LastSchedEval=2025-07-09T13:06:19
   Scheduler=Backfill:*
   Partition=l40 AllocNode:Sid=login1:371844
   ReqNodeList=(null) ExcNodeList=(null)
   NodeList=(null)
   NumNodes=1-1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
   ReqTRES=cpu=1,mem=128G,node=1,billing=1,gres/gpu=1
   AllocTRES=(null)
   Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*
   MinCPUsNode=1 MinMemoryNode=128G MinTmpDiskNode=0
   Features=(null) DelayBoot=00:00:00
   OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null)
   Command=/bin/bash
   WorkDir=/home/testgrp/Testuser
   TresPerNode=gres/gpu:1
`),
    UTC,
  );
  assert.ok(typeof pending !== 'string', String(pending));
  assert.equal(pending.state, 'PENDING');
  assert.equal(pending.fields.AllocTRES, '(null)');
  // What it asks for, as 22.05's TRES= says for a pending job.
  assert.equal(pending.tres?.text, 'cpu=1,mem=128G,node=1,billing=1,gres/gpu=1');
  assert.equal(pending.tres?.gpus, 1);
  assert.deepEqual(pending.reqTres, pending.tres);
  // Once allocated, what it holds.
  const running = parseScontrolJobLine('JobId=9 JobName=x UserId=u(1) JobState=RUNNING ReqTRES=cpu=1,mem=10G,node=1 AllocTRES=cpu=12,mem=120G,node=1 WorkDir=/w', UTC);
  assert.ok(typeof running !== 'string');
  assert.equal(running.tres?.text, 'cpu=12,mem=120G,node=1');
  assert.equal(running.reqTres?.text, 'cpu=1,mem=10G,node=1');
});

test('24.11 and later: keys printed after a free-text value are not read into it', () => {
  // Published output of a 2025 slurm-bridge cluster: StepMgrEnabled= (24.05) and OOMKillStep= (24.11) after AdminComment.
  const bridge = parseScontrolJobLine(
    oneLine(`
JobId=1 JobName=job-sleep-single
   UserId=slurm(401) GroupId=slurm(401) MCS_label=kubernetes
   Priority=1 Nice=0 Account=(null) QOS=normal
   JobState=CANCELLED Reason=None Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=0 Reboot=0 ExitCode=0:0
   RunTime=00:00:08 TimeLimit=UNLIMITED TimeMin=N/A
   SubmitTime=2025-07-10T15:52:53 EligibleTime=2025-07-10T15:52:53
   AccrueTime=2025-07-10T15:52:53
   StartTime=2025-07-10T15:52:53 EndTime=2025-07-10T15:53:01 Deadline=N/A
   SuspendTime=None SecsPreSuspend=0 LastSchedEval=2025-07-10T15:52:53 Scheduler=Main
   Partition=slurm-bridge AllocNode:Sid=10.244.5.5:1
   ReqNodeList=(null) ExcNodeList=(null)
   NodeList=slurm-bridge-1
   BatchHost=slurm-bridge-1
   StepMgrEnabled=Yes
   NumNodes=1 NumCPUs=4 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
   ReqTRES=cpu=1,mem=96046M,node=1,billing=1
   AllocTRES=cpu=4,mem=96046M,node=1,billing=4
   Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*
   MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0
   Features=(null) DelayBoot=00:00:00
   OverSubscribe=NO Contiguous=0 Licenses=(null) LicensesAlloc=(null) Network=(null)
   Command=(null)
   WorkDir=/tmp
   AdminComment={"pods":["slurm-bridge/job-sleep-single-8wtc2"]}
   OOMKillStep=0
`),
    UTC,
  );
  assert.ok(typeof bridge !== 'string', String(bridge));
  assert.equal(bridge.fields.AdminComment, '{"pods":["slurm-bridge/job-sleep-single-8wtc2"]}');
  assert.equal(bridge.fields.OOMKillStep, '0');
  assert.equal(bridge.fields.StepMgrEnabled, 'Yes');
  assert.equal(bridge.batchHost, 'slurm-bridge-1');
  assert.equal(bridge.tres?.cpus, 4);
  // A batch job on 24.11/25.05 (src/scontrol/info_job.c order): OOMKillStep= right after StdOut=, when set.
  const batch = parseScontrolJobLine(
    'JobId=5 JobName=train UserId=u(1000) GroupId=u(1000) JobState=RUNNING Reason=None Command=/home/u/run dir/job.sh ' +
      'WorkDir=/home/u/run dir StdErr=/home/u/run dir/slurm-5.out StdIn=/dev/null StdOut=/home/u/run dir/slurm-5.out OOMKillStep=0',
    UTC,
  );
  assert.ok(typeof batch !== 'string');
  assert.equal(batch.stdOut, '/home/u/run dir/slurm-5.out');
  assert.equal(batch.stdErr, '/home/u/run dir/slurm-5.out');
  // 23.02's Extra= after Comment=, 25.05's SegmentSize= after StdOut=, 25.11's SubmitLine= after Command=.
  const newer = parseScontrolJobLine(
    'JobId=6 JobName=t UserId=u(1000) JobState=PENDING Reason=Priority FailedNode=n3 Dependency=(null) Command=/w/job.sh ' +
      'SubmitLine=sbatch --time=5 job.sh WorkDir=/w Comment=mine Extra=k=v StdErr=/w/e.txt StdIn=/dev/null StdOut=/w/o.txt SegmentSize=2',
    UTC,
  );
  assert.ok(typeof newer !== 'string');
  assert.equal(newer.reason, 'Priority');
  assert.equal(newer.command, '/w/job.sh');
  assert.equal(newer.fields.SubmitLine, 'sbatch --time=5 job.sh');
  assert.equal(newer.workDir, '/w');
  assert.equal(newer.comment, 'mine');
  assert.equal(newer.stdErr, '/w/e.txt');
  assert.equal(newer.stdOut, '/w/o.txt');
});

test('not scontrol output: a typed error, never a throw', () => {
  const r = parseScontrolJobs('No jobs in the system\n');
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.command, 'scontrol');
  assert.deepEqual(parseScontrolJobs(''), { ok: true, value: [], issues: [] });
  assert.equal(typeof parseScontrolJobLine('JobId=abc JobName=x'), 'string');
  assert.equal(typeof parseScontrolJobLine('garbage'), 'string');
  assert.deepEqual(splitScontrolPairs('  leading text JobId=1'), []);
});
