// Reading and following job logs: UTF-8 never split across answers, 1 MiB
// answers, pending logs, truncation, per-client notifications, and only the
// job's own files read. The cluster is a FakeRemote; the clients are real
// RpcConnections over in-memory transports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LogService,
  MAX_CHUNK_BYTES,
  Utf8Carry,
  completeUtf8Length,
  expandJobPattern,
  leadingContinuationBytes,
  readFrom,
} from '../../daemon/jobs/logs';
import { createLogger, memorySink } from '../../daemon/log';
import { ErrorCode, LogsDidAppend, LogsTail, LogsUnsubscribe, type ParamsOf } from '../../daemon/protocol';
import { RpcConnection, RpcError } from '../../daemon/rpc/connection';
import { createMemoryTransportPair } from '../../daemon/rpc/transport';
import type { ClientSession } from '../../daemon/server';
import { FakeRemote, registry } from './logsFakes';
import { startHarness } from './harness';

type Appended = ParamsOf<typeof LogsDidAppend>;

// 1-, 2-, 3- and 4-byte characters, and a line tqdm would write.
const SAMPLE = 'a é € 😀 ü\n日本語 ✓\r 37%|███▋      | 37/100\n';

test('UTF-8 carry: every way of cutting the bytes in three gives back the text, never U+FFFD', () => {
  const bytes = Buffer.from(SAMPLE);
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const c = new Utf8Carry();
      const parts = [c.push(bytes.subarray(0, i)), c.push(bytes.subarray(i, j)), c.push(bytes.subarray(j))];
      assert.equal(c.pending, 0);
      assert.equal(parts.join('') + c.end(), SAMPLE, `cut at ${i}, ${j}`);
      for (const p of parts) assert.ok(!p.includes('\uFFFD'), `cut at ${i}, ${j}: ${JSON.stringify(parts)}`);
    }
  }
});

test('UTF-8 boundaries: incomplete tails are held back, invalid bytes are not', () => {
  const euro = Buffer.from('€'); // e2 82 ac
  assert.equal(completeUtf8Length(Buffer.from('ab')), 2);
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)])), 1);
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)])), 1);
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from('a'), euro])), 4);
  const emoji = Buffer.from('😀'); // f0 9f 98 80
  assert.equal(completeUtf8Length(emoji.subarray(0, 3)), 0);
  assert.equal(completeUtf8Length(emoji), 4);
  assert.equal(completeUtf8Length(Buffer.from([0x61, 0x80, 0x80, 0x80])), 4, 'stray continuation bytes are not waited on');
  assert.equal(leadingContinuationBytes(euro.subarray(1)), 2);
  assert.equal(leadingContinuationBytes(emoji.subarray(1)), 3);
  assert.equal(leadingContinuationBytes(Buffer.from('a')), 0);
  const c = new Utf8Carry();
  assert.equal(c.push(Buffer.from([0x61, 0xff, 0x62])), 'a\uFFFDb', 'invalid bytes pass through as U+FFFD');
  assert.equal(c.push(Buffer.from([0x63, 0xe2, 0x82])), 'c');
  assert.equal(c.end(), '\uFFFD', 'a character the file never finished');
});

test('readFrom: a tail that starts inside a character starts at the next one', async () => {
  const remote = new FakeRemote();
  remote.append('/f', SAMPLE);
  const bytes = Buffer.from(SAMPLE);
  for (let back = 1; back <= bytes.length; back++) {
    const r = await readFrom(remote, '/f', -back);
    assert.equal(r.nextOffset, bytes.length);
    assert.equal(Buffer.from(r.data).length, bytes.length - r.offset);
    assert.equal(r.data, bytes.subarray(r.offset).toString());
    assert.ok(r.offset >= bytes.length - back && r.offset <= bytes.length - back + 3);
    assert.ok(!r.data.includes('\uFFFD'), `last ${back} bytes: ${JSON.stringify(r.data)}`);
  }
});

test('readFrom: at most 1 MiB per answer, cut on a character boundary; following nextOffset gives the file exactly', async () => {
  const remote = new FakeRemote();
  // 3-byte characters: 1 MiB is not a multiple of 3, so the cap falls inside one.
  const text = '€'.repeat(900_000) + 'end\n';
  remote.append('/big', text);
  const parts: string[] = [];
  let offset = 0;
  for (let i = 0; i < 10; i++) {
    const r = await readFrom(remote, '/big', offset);
    assert.equal(r.offset, offset);
    assert.ok(r.nextOffset - r.offset <= MAX_CHUNK_BYTES);
    if (r.nextOffset === r.offset) break;
    if (r.nextOffset < Buffer.byteLength(text)) assert.ok(r.nextOffset - r.offset > MAX_CHUNK_BYTES - 4, 'a full answer');
    parts.push(r.data);
    offset = r.nextOffset;
  }
  assert.equal(parts.length, 3);
  assert.equal(parts.join(''), text);
});

test('readFrom: a missing log is empty at 0; an offset past the end reads from 0 (the file was truncated)', async () => {
  const remote = new FakeRemote();
  assert.deepEqual(await readFrom(remote, '/not-yet', -65536), { offset: 0, data: '', nextOffset: 0 });
  remote.append('/f', 'short\n');
  assert.deepEqual(await readFrom(remote, '/f', 1000), { offset: 0, data: 'short\n', nextOffset: 6 });
  assert.deepEqual(await readFrom(remote, '/f', 6), { offset: 6, data: '', nextOffset: 6 });
  remote.failNext = new RpcError(ErrorCode.RemoteFileFailed, 'SFTP stat /f on cluster "c" failed: Permission denied');
  await assert.rejects(readFrom(remote, '/f', 0), /Permission denied/);
});

test('log paths: the job\'s own filename patterns are filled in (squeue 22.05 prints --error paths unexpanded)', () => {
  const job = { slurmJobId: '89', name: 'train' };
  assert.equal(expandJobPattern('/runs/x/err-%j.txt', job), '/runs/x/err-89.txt');
  assert.equal(expandJobPattern('/runs/x/%x-%8J.%%.log', job), '/runs/x/train-00000089.%.log');
  assert.equal(expandJobPattern('/runs/x/%u-%N-%a.log', job), '/runs/x/%u-%N-%a.log', 'what only the cluster knows stays');
  assert.equal(expandJobPattern('/runs/x/slurm-%j.out', { slurmJobId: null, name: 'n' }), '/runs/x/slurm-%j.out');
});

interface Client {
  session: ClientSession;
  rpc: RpcConnection;
  got: Appended[];
}

function client(id: string): Client {
  const [serverEnd, clientEnd] = createMemoryTransportPair();
  const serverRpc = new RpcConnection(serverEnd);
  const rpc = new RpcConnection(clientEnd);
  const got: Appended[] = [];
  rpc.onNotification(LogsDidAppend, (n) => got.push(n));
  return { session: { id, initialized: true, clientName: id, rpc: serverRpc }, rpc, got };
}

function setup() {
  const r = registry();
  const remote = new FakeRemote();
  const svc = new LogService({ jobs: r.jobs, clusters: r.clusters, session: async () => remote, log: createLogger(memorySink()), tickMs: 1e9, firstTickMs: 1e9 });
  return { r, remote, svc };
}

const settle = () => new Promise((res) => setImmediate(res));

/** Concatenates notifications, checking each starts where the previous ended. */
function joined(got: Appended[], from: number): string {
  let at = from;
  let text = '';
  for (const n of got) {
    assert.equal(n.offset, at, `notification at ${n.offset}, expected ${at}`);
    at += Buffer.byteLength(n.data);
    text += n.data;
  }
  return text;
}

test('tail: by SLURM id; stdout, stderr (its own file, or stdout\'s when merged); only the job\'s files are read', async () => {
  const { r, remote, svc } = setup();
  const c = client('a');
  const merged = r.job();
  const split = r.job({ stderrPath: '/runs/2/err.txt' });
  remote.append(merged.stdoutPath!, 'out and err\n');
  remote.append(split.stdoutPath!, 'only out\n');
  remote.append('/runs/2/err.txt', 'only err\n');
  remote.append('/etc/passwd', 'root:x:0:0\n');
  const a = await svc.tail(merged.slurmJobId!, { stream: 'stderr', offset: -65536, follow: false }, c.session);
  assert.deepEqual(a, { jobId: merged.id, path: merged.stdoutPath, offset: 0, data: 'out and err\n', nextOffset: 12, subscriptionId: null });
  const b = await svc.tail(`c:${split.slurmJobId}`, { stream: 'stderr', offset: 0, follow: false }, c.session);
  assert.equal(b.data, 'only err\n');
  const o = await svc.tail(split.id.slice(0, 8), { stream: 'stdout', offset: 0, follow: false }, c.session);
  assert.equal(o.data, 'only out\n');
  const allowed = new Set([merged.stdoutPath, split.stdoutPath, '/runs/2/err.txt']);
  for (const op of remote.ops) assert.ok(allowed.has(op.path), `read ${op.path}`);
  svc.dispose();
});

test('tail: a job that never ran has no log (NotFound); a pending one reads as empty', async () => {
  const { r, svc } = setup();
  const c = client('a');
  const refused = r.job({ state: 'SUBMIT_FAILED', stdoutPath: null, stderrPath: null, startTime: null });
  await assert.rejects(svc.tail(refused.id, { stream: 'stdout', offset: 0, follow: false }, c.session), (e: unknown) => e instanceof RpcError && e.code === ErrorCode.NotFound);
  const pending = r.job({ state: 'PENDING', startTime: null });
  assert.deepEqual(await svc.tail(pending.id, { stream: 'stdout', offset: -100, follow: false }, c.session), {
    jobId: pending.id,
    path: pending.stdoutPath,
    offset: 0,
    data: '',
    nextOffset: 0,
    subscriptionId: null,
  });
  svc.dispose();
});

test('follow: from a pending job to its end, every byte once and in order, a character split between writes kept whole, then done', async () => {
  const { r, remote, svc } = setup();
  const c = client('a');
  const job = r.job({ state: 'PENDING', startTime: null });
  const first = await svc.tail(job.id, { stream: 'stdout', offset: -65536, follow: true }, c.session);
  assert.equal(first.data, '');
  assert.ok(first.subscriptionId);
  await svc.tick();
  await settle();
  assert.equal(c.got.length, 0, 'nothing yet: the file does not exist');
  const euro = Buffer.from('€');
  r.jobs.update(job.id, { state: 'RUNNING' });
  remote.append(job.stdoutPath!, Buffer.concat([Buffer.from('line 1 '), euro.subarray(0, 2)]));
  await svc.tick();
  remote.append(job.stdoutPath!, Buffer.concat([euro.subarray(2), Buffer.from('\nline 2 😀\n')]));
  await svc.tick();
  await svc.tick();
  remote.append(job.stdoutPath!, 'last line\n');
  r.jobs.update(job.id, { state: 'COMPLETED', endTime: new Date().toISOString() });
  await svc.tick();
  await settle();
  assert.ok(!c.got.some((n) => n.done), 'not done in the tick that read the last bytes');
  await svc.tick();
  await settle();
  assert.equal(c.got.filter((n) => n.done).length, 1);
  assert.ok(c.got.at(-1)!.done);
  assert.equal(joined(c.got, 0), 'line 1 €\nline 2 😀\nlast line\n');
  assert.ok(c.got.every((n) => n.subscriptionId === first.subscriptionId && n.jobId === job.id && n.stream === 'stdout'));
  assert.equal(svc.subscriptionCount, 0);
  const reads = remote.reads();
  await svc.tick();
  assert.equal(remote.reads(), reads, 'nothing is read after done');
  svc.dispose();
});

test('follow: a file that did not grow is stat-ed, not read; one stat per file however many follow it', async () => {
  const { r, remote, svc } = setup();
  const a = client('a');
  const b = client('b');
  const job = r.job();
  remote.append(job.stdoutPath!, 'hello\n');
  await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, a.session);
  await svc.tail(job.id, { stream: 'stderr', offset: 0, follow: true }, b.session);
  remote.ops.length = 0;
  await svc.tick();
  assert.deepEqual(remote.ops, [{ op: 'stat', path: job.stdoutPath }]);
  svc.dispose();
});

test('follow: a finished job\'s log (ended long ago) completes at the first tick', async () => {
  const { r, remote, svc } = setup();
  const c = client('a');
  const job = r.job({ state: 'COMPLETED', endTime: new Date(Date.now() - 60_000).toISOString() });
  remote.append(job.stdoutPath!, 'all of it\n');
  const first = await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, c.session);
  assert.equal(first.data, 'all of it\n');
  await svc.tick();
  await settle();
  assert.deepEqual(c.got, [{ subscriptionId: first.subscriptionId, jobId: job.id, stream: 'stdout', offset: 10, data: '', done: true }]);
  svc.dispose();
});

test('follow: 3 MiB written at once arrives whole, in notifications of at most 1 MiB', async () => {
  const { r, remote, svc } = setup();
  const c = client('a');
  const job = r.job();
  const first = await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, c.session);
  let text = '';
  for (let i = 0; text.length < 3 * 1024 * 1024; i++) text += `line ${i} ünïcödé €\n`;
  remote.append(job.stdoutPath!, text);
  await svc.tick();
  await settle();
  assert.ok(c.got.length >= 3);
  for (const n of c.got) assert.ok(Buffer.byteLength(n.data) <= MAX_CHUNK_BYTES);
  assert.equal(joined(c.got, first.nextOffset), text);
  svc.dispose();
});

test('follow: a truncated log is read again from 0 (offset goes back), data stays the file\'s bytes', async () => {
  const { r, remote, svc } = setup();
  const c = client('a');
  const job = r.job();
  remote.append(job.stdoutPath!, 'first run, a long line\n');
  const first = await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, c.session);
  assert.equal(first.nextOffset, 23);
  remote.files.set(job.stdoutPath!, Buffer.from('again\n'));
  await svc.tick();
  await settle();
  assert.deepEqual(c.got.map((n) => [n.offset, n.data]), [[0, 'again\n']]);
  svc.dispose();
});

test('follow: notifications reach only the subscriber; another client cannot unsubscribe it; closing a client ends its follows', async () => {
  const { r, remote, svc } = setup();
  const a = client('a');
  const b = client('b');
  const job = r.job();
  const sa = await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, a.session);
  await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, a.session);
  remote.append(job.stdoutPath!, 'x\n');
  await svc.tick();
  await settle();
  assert.equal(a.got.length, 2);
  assert.equal(b.got.length, 0);
  assert.equal(svc.unsubscribe(sa.subscriptionId!, b.session), false);
  assert.equal(svc.unsubscribe(sa.subscriptionId!, a.session), true);
  assert.equal(svc.unsubscribe(sa.subscriptionId!, a.session), false);
  assert.equal(svc.subscriptionCount, 1);
  a.rpc.close();
  await settle();
  assert.equal(svc.subscriptionCount, 0);
  svc.dispose();
});

test('follow: a failing connection is retried, not given up', async () => {
  const { r, remote, svc } = setup();
  const c = client('a');
  const job = r.job();
  await svc.tail(job.id, { stream: 'stdout', offset: 0, follow: true }, c.session);
  remote.failNext = new RpcError(ErrorCode.SshConnectFailed, 'cluster c: connection lost');
  remote.append(job.stdoutPath!, 'after the outage\n');
  await svc.tick();
  assert.equal(svc.subscriptionCount, 1);
  await svc.tick();
  await settle();
  assert.equal(joined(c.got, 0), 'after the outage\n');
  svc.dispose();
});

test('protocol: logs/tail and logs/unsubscribe are served, with NotFound for an unknown job', async () => {
  const h = await startHarness();
  try {
    await assert.rejects(h.client.request(LogsTail, { ref: '424242' }), (e: unknown) => e instanceof RpcError && e.code === ErrorCode.NotFound);
    assert.deepEqual(await h.client.request(LogsUnsubscribe, { subscriptionId: 'nope' }), { unsubscribed: false });
  } finally {
    await h.close();
  }
});
