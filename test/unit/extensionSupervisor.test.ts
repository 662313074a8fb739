// The extension's daemon lifecycle with deliberately broken daemons (as fakes
// of the connection): one that dies right after connecting, one that never
// comes up, one of another protocol version, and one that recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { RestartBudget } from '../../extension/model/restartBudget';
import { Supervisor, type SupervisorDeps } from '../../extension/model/supervisor';

class FakeConnection {
  closeCb: ((reason: string) => void) | undefined;
  closed = false;
  constructor(readonly n: number) {}
  die(reason = 'daemon crashed'): void {
    this.closeCb?.(reason);
  }
}

function harness(behaviour: (attempt: number) => Promise<FakeConnection>, now: () => number = () => 0) {
  const events: string[] = [];
  let attempts = 0;
  const deps: SupervisorDeps<FakeConnection, number> = {
    connect: () => behaviour(++attempts),
    onClose: (c, cb) => (c.closeCb = cb),
    close: (c) => (c.closed = true),
    describe: (c) => c.n,
    log: { info: () => {}, warn: () => {}, error: () => {} },
    onGiveUp: (reason) => events.push(`giveUp: ${reason}`),
    onMismatch: () => events.push('mismatch'),
    budget: new RestartBudget(3, 180_000, now),
    retryDelayMs: 0,
  };
  const sup = new Supervisor(deps);
  const states: string[] = [];
  sup.onState((s) => states.push(s.kind));
  return { sup, events, states, attempts: () => attempts };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never: ${what}`);
}

test('a daemon that dies after every connect is restarted 3 times, then the user is told once', async () => {
  const conns: FakeConnection[] = [];
  const h = harness(async (n) => {
    const c = new FakeConnection(n);
    conns.push(c);
    return c;
  });
  await h.sup.start();
  for (let i = 0; i < 4; i++) {
    await until(`connection ${i + 1}`, () => h.sup.state.kind === 'connected' && conns.length === i + 1);
    conns[i]!.die();
  }
  await until('give up', () => h.sup.state.kind === 'stopped');
  assert.equal(h.attempts(), 4, 'the first start and 3 restarts');
  assert.deepEqual(h.events, ['giveUp: the connection closed: daemon crashed']);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(h.attempts(), 4, 'nothing more is tried after giving up');
  assert.equal(h.sup.current, undefined);
});

test('a daemon that never comes up is retried within the budget, then reported', async () => {
  const h = harness(async () => {
    throw new RpcError(ErrorCode.InternalError, 'the daemon exited at start (status 1)');
  });
  await h.sup.start();
  await until('give up', () => h.sup.state.kind === 'stopped');
  assert.equal(h.attempts(), 4);
  assert.equal(h.events.length, 1);
  assert.match(h.events[0]!, /exited at start/);
});

test('a daemon of another protocol version is not retried: the user is offered a restart', async () => {
  const h = harness(async () => {
    throw new RpcError(ErrorCode.ProtocolMismatch, 'daemon speaks protocol 3, client 4');
  });
  await h.sup.start();
  assert.deepEqual(h.events, ['mismatch']);
  assert.equal(h.attempts(), 1);
  assert.deepEqual(h.sup.state, { kind: 'stopped', reason: 'it speaks another protocol version (started by another version of Slurm ML).', mismatch: true });
});

test('restarts spread over time stay within the budget; a user restart starts a fresh one', async () => {
  let now = 0;
  const conns: FakeConnection[] = [];
  const h = harness(async (n) => {
    const c = new FakeConnection(n);
    conns.push(c);
    return c;
  }, () => now);
  await h.sup.start();
  // Six crashes, one every 2 minutes: never 3 within 3 minutes before the next.
  for (let i = 0; i < 6; i++) {
    await until('connected', () => h.sup.state.kind === 'connected' && conns.length === i + 1);
    now += 120_000;
    conns[i]!.die();
  }
  await until('connected again', () => h.sup.state.kind === 'connected' && conns.length === 7);
  assert.deepEqual(h.events, []);

  const stopped: (number | undefined)[] = [];
  await h.sup.restart(async (c) => void stopped.push(c?.n));
  assert.deepEqual(stopped, [7], 'restart stops the daemon it was connected to');
  assert.equal(conns[6]!.closed, true);
  assert.equal(h.sup.state.kind, 'connected');
  assert.equal(h.sup.current?.n, 8);
});

test('after dispose a lost connection is not replaced (the window is closing)', async () => {
  const conns: FakeConnection[] = [];
  const h = harness(async (n) => {
    const c = new FakeConnection(n);
    conns.push(c);
    return c;
  });
  await h.sup.start();
  h.sup.dispose();
  assert.equal(conns[0]!.closed, true);
  conns[0]!.die('closed by the extension');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(h.attempts(), 1);
});
