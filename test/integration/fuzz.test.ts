// Protocol fuzzing against the real built daemon (dist/daemon.js) over its
// real WebSocket: 10,000 generated messages (fast-check) — valid-shaped
// requests for every method (params generated from the protocol's own JSON
// Schema), the same mutated, garbage JSON, wrong types, huge strings, unknown
// methods, notifications and stray responses. Every message JSON-RPC says
// must be answered is answered, with a result or an error whose code is one
// of the ErrorCode enum, never InternalError (an untyped failure is a daemon
// bug); the daemon never exits nor hangs up; its memory stays flat.
//
// The registry holds one cluster, `fuzz`, at 127.0.0.1 port 1 (connection
// refused at once), so that valid-shaped requests naming it run their
// handlers as far as the SSH connection. `daemon/shutdown` is never sent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import WebSocket from 'ws';
import { z } from 'zod';
import { ErrorCode, PROTOCOL_VERSION, requests } from '../../daemon/protocol';
import { killAllDaemons, startDaemon, type RunningDaemon } from './daemonProcess';

after(killAllDaemons);

const TOTAL = Number(process.env.FUZZ_MESSAGES ?? 10_000);
const BATCH = 100;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Generous: the daemon's RSS at the end may exceed that after the first fifth of the run by this much (30,000 messages: it plateaus at about +50 MiB over the start, then stays). */
const RSS_GROWTH_LIMIT_MB = 64;
const SKIP = new Set(['daemon/shutdown', 'daemon/setLogLevel']);
const CODES = new Set<number>(Object.values(ErrorCode));

// ---------------------------------------------------------------- JSON Schema -> arbitrary

type Schema = Record<string, unknown>;

/** Values valid for the schema's shape (refinements zod keeps to itself may still fail: that is fine). */
function arb(schema: Schema | boolean | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (schema === undefined || schema === true || schema === false || Object.keys(schema).length === 0) return fc.jsonValue({ maxDepth: 2 });
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as Schema[]).map((s) => arb(s, depth)));
  if (Array.isArray(schema.oneOf)) return fc.oneof(...(schema.oneOf as Schema[]).map((s) => arb(s, depth)));
  const type = Array.isArray(schema.type) ? (schema.type as string[])[0] : (schema.type as string | undefined);
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const min = typeof schema.minimum === 'number' ? Math.max(schema.minimum, -1e9) : -1e6;
      const max = typeof schema.maximum === 'number' ? Math.min(schema.maximum, 1e9) : 1e6;
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
    }
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : -1e6;
      const max = typeof schema.maximum === 'number' ? schema.maximum : 1e6;
      return fc.double({ min, max, noNaN: true });
    }
    case 'string': {
      if (schema.format === 'date-time') return fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString());
      const maxLength = Math.min(typeof schema.maxLength === 'number' ? schema.maxLength : 64, 200);
      const minLength = typeof schema.minLength === 'number' ? Math.min(schema.minLength, maxLength) : 0;
      if (typeof schema.pattern === 'string') {
        try {
          return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= minLength && s.length <= maxLength);
        } catch {
          /* a pattern fast-check cannot invert: plain strings */
        }
      }
      return fc.string({ minLength, maxLength });
    }
    case 'array': {
      const items = arb(schema.items as Schema | undefined, depth + 1);
      return fc.array(items, { maxLength: Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : 4, 4) });
    }
    case 'object':
    default: {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required ?? []) as string[]);
      if (depth > 4) return fc.constant({});
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, s] of Object.entries(props)) {
        // The one cluster that exists, often enough for handlers to get past "not found".
        record[k] = k === 'cluster' || (k === 'name' && depth === 0) ? fc.oneof(fc.constant('fuzz'), arb(s, depth + 1)) : arb(s, depth + 1);
      }
      const optional = Object.keys(props).filter((k) => !required.has(k));
      const base = fc.record(record, { requiredKeys: [...required] as never[] }) as fc.Arbitrary<Record<string, unknown>>;
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object' && Object.keys(props).length === 0) {
        return fc.dictionary(fc.string({ maxLength: 12 }), arb(schema.additionalProperties as Schema, depth + 1), { maxKeys: 3 });
      }
      void optional;
      return base;
    }
  }
}

const methods = Object.values(requests).filter((r) => !SKIP.has(r.method));
const paramsArb = new Map(methods.map((r) => [r.method, arb(z.toJSONSchema(r.params, { io: 'input', unrepresentable: 'any' }) as Schema)]));

// ---------------------------------------------------------------- messages

interface Envelope {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
  [k: string]: unknown;
}

const idArb = fc.oneof(fc.integer({ min: 1, max: 1e9 }), fc.uuid());
const validShaped: fc.Arbitrary<Envelope> = fc
  .tuple(fc.constantFrom(...methods.map((m) => m.method)), idArb)
  .chain(([method, id]) => paramsArb.get(method)!.map((params) => ({ jsonrpc: '2.0', id, method, params })));

const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.constant({ __proto__: { polluted: true } }),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}')),
);

/** Replaces one value somewhere inside v (path chosen by the picks). */
function replaceDeep(v: unknown, picks: number[], by: unknown): unknown {
  if (picks.length === 0 || v === null || typeof v !== 'object') return by;
  const [p, ...rest] = picks;
  if (Array.isArray(v)) {
    if (v.length === 0) return by;
    const i = p! % v.length;
    return v.map((x, j) => (j === i ? replaceDeep(x, rest, by) : x));
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return by;
  const k = keys[p! % keys.length]!;
  return { ...(v as object), [k]: replaceDeep((v as Record<string, unknown>)[k], rest, by) };
}

const mutatedValid: fc.Arbitrary<Envelope> = fc.oneof(
  // a value deep in params of another type
  fc.tuple(validShaped, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), wrongValue).map(([m, picks, by]) => ({ ...m, params: replaceDeep(m.params, picks, by) })),
  // a key dropped or an unknown one added
  fc.tuple(validShaped, fc.nat()).map(([m, k]) => {
    const p = { ...(m.params as Record<string, unknown>) };
    const keys = Object.keys(p);
    if (keys.length) delete p[keys[k % keys.length]!];
    return { ...m, params: p };
  }),
  fc.tuple(validShaped, fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })).map(([m, k, v]) => ({ ...m, params: { ...(m.params as object), [k]: v } })),
  // the envelope broken
  fc.tuple(validShaped, fc.constantFrom('jsonrpc', 'id', 'method', 'params'), wrongValue).map(([m, k, v]) => ({ ...m, [k]: v })),
  fc.tuple(validShaped, fc.constantFrom('jsonrpc', 'id', 'method', 'params')).map(([m, k]) => {
    const c = { ...m };
    delete c[k];
    return c;
  }),
  // a method name one character off
  fc.tuple(validShaped, fc.nat(), fc.string({ minLength: 1, maxLength: 1 })).map(([m, at, c]) => {
    const s = String(m.method);
    const i = at % s.length;
    return { ...m, method: s.slice(0, i) + c + s.slice(i + 1) };
  }),
);

const hugeString = fc.tuple(fc.integer({ min: 64 * 1024, max: 1024 * 1024 }), fc.constantFrom('a', 'é', '\u0000', '../', '$(', '\n', '9')).map(([n, c]) => c.repeat(Math.ceil(n / c.length)));
const huge: fc.Arbitrary<Envelope> = fc.oneof(
  fc.tuple(validShaped, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), hugeString).map(([m, picks, s]) => ({ ...m, params: replaceDeep(m.params, picks, s) })),
  fc.tuple(idArb, hugeString).map(([id, s]) => ({ jsonrpc: '2.0', id, method: s.slice(0, 200_000), params: {} })),
  fc.tuple(hugeString).map(([s]) => ({ jsonrpc: '2.0', id: s, method: 'daemon/status', params: {} })),
);
/** Deeply nested params, written as text (a parser that recurses per level must not fall over). */
const deep: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 100, max: 20_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}']))
  .map(([n, [open, close]]) => `{"jsonrpc":"2.0","id":1,"method":"jobs/list","params":${open!.repeat(n)}1${close!.repeat(n)}}`);

const unknownMethod: fc.Arbitrary<Envelope> = fc.tuple(idArb, fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'jobs/', '/', 'ssh/prompt', 'jobs/didChange')), fc.jsonValue({ maxDepth: 2 })).map(([id, method, params]) => ({ jsonrpc: '2.0', id, method, params }));

const notificationOrResponse: fc.Arbitrary<Envelope> = fc.oneof(
  validShaped.map((m) => ({ jsonrpc: '2.0', method: m.method, params: m.params })),
  fc.tuple(idArb, fc.jsonValue({ maxDepth: 2 })).map(([id, result]) => ({ jsonrpc: '2.0', id, result })),
  fc.tuple(idArb, fc.integer(), fc.string()).map(([id, code, message]) => ({ jsonrpc: '2.0', id, error: { code, message } })),
);

/** The frames on the wire. */
const frame: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: validShaped.map((m) => JSON.stringify(m)) },
  { weight: 30, arbitrary: mutatedValid.map((m) => JSON.stringify(m)) },
  { weight: 10, arbitrary: fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), validShaped.chain((m) => fc.nat().map((n) => JSON.stringify(m).slice(0, n % JSON.stringify(m).length)))) },
  { weight: 10, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 4, arbitrary: huge.map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: deep },
  { weight: 10, arbitrary: unknownMethod.map((m) => JSON.stringify(m)) },
  { weight: 6, arbitrary: notificationOrResponse.map((m) => JSON.stringify(m)) },
);

/** How many answers JSON-RPC 2.0 (and the daemon's rules) owe for this frame: requests and unreadable messages 1, notifications and responses 0. */
function answersOwed(text: string): number {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return 1;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return 1;
  const o = msg as Record<string, unknown>;
  if ('method' in o) return 'id' in o ? 1 : 0;
  if ('id' in o && ('result' in o || 'error' in o)) return 0;
  return 1;
}

// ---------------------------------------------------------------- the client

interface Answer {
  id?: unknown;
  result?: unknown;
  error?: { code: unknown; message: unknown };
  jsonrpc?: unknown;
}

class FuzzClient {
  answers: Answer[] = [];
  waiters: (() => void)[] = [];
  closedWith: number | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Answer & { method?: string };
      if ('method' in m && !('id' in m)) return; // a notification of the daemon's own
      this.answers.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closedWith = code;
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('error', () => {});
  }
  static async open(d: RunningDaemon): Promise<FuzzClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/`, { headers: { Authorization: `Bearer ${d.token}` }, maxPayload: 64 << 20 });
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    const c = new FuzzClient(ws);
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, clientName: 'fuzz' } }));
    const a = await c.until(1);
    assert.ok(a[0]!.result, JSON.stringify(a[0]));
    return c;
  }
  /** Waits for n answers (beyond those taken), returns and removes them. */
  async until(n: number, timeoutMs = 30_000): Promise<Answer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.answers.length < n) {
      if (this.closedWith !== null) throw new Error(`the daemon closed the connection (${this.closedWith}) with ${this.answers.length}/${n} answers in`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.answers.length} of ${n} answers within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.answers.splice(0, n);
  }
}

function rssMB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---------------------------------------------------------------- the test

test(`${TOTAL.toLocaleString('en-US')} fuzzed protocol messages: each answered with a result or a typed error; the daemon stays up, its memory flat`, { timeout: 900_000 }, async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());
  t.diagnostic(`seed ${SEED} (FUZZ_SEED=${SEED} reproduces)`);
  let c = await FuzzClient.open(d);
  const addFuzzCluster = JSON.stringify({ jsonrpc: '2.0', id: 'add', method: 'clusters/add', params: { name: 'fuzz', host: '127.0.0.1', port: 1, user: 'nobody', identityFile: '/nonexistent/id_fuzz' } });
  c.ws.send(addFuzzCluster);
  assert.ok((await c.until(1))[0]!.result, 'the fuzz cluster is added');

  const frames = fc.sample(frame, { numRuns: TOTAL, seed: SEED });
  const counts = { sent: 0, owed: 0, results: 0, errors: 0, oversized: 0 };
  const byCode = new Map<number, number>();
  const internal: string[] = [];
  let rssAfterWarmup = NaN;
  const rssSamples: number[] = [];
  let sentinel = 0;

  for (let i = 0; i < frames.length; i += BATCH) {
    const batch = frames.slice(i, i + BATCH);
    // A fuzzed clusters/remove may have removed it: back for each batch (AlreadyExists when it is there).
    c.ws.send(addFuzzCluster);
    let owed = 1;
    for (const f of batch) {
      // Over the daemon's 4 MiB frame limit: the connection is closed (1009), the daemon goes on.
      if (Buffer.byteLength(f) > 4 * 1024 * 1024) {
        counts.oversized++;
        continue;
      }
      c.ws.send(f);
      counts.sent++;
      owed += answersOwed(f);
    }
    // A request that must be answered after the batch: the daemon is still serving this connection.
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: `sentinel-${++sentinel}`, method: 'daemon/status', params: {} }));
    const answers = await c.until(owed + 1, 60_000);
    counts.owed += owed;
    const status = answers.find((a) => a.id === `sentinel-${sentinel}`);
    assert.ok(status?.result, `the status request after batch ${sentinel} was answered: ${JSON.stringify(status)}`);
    for (const a of answers) {
      if (a === status) continue;
      assert.equal(a.jsonrpc, '2.0');
      assert.ok(('result' in a) !== ('error' in a), `an answer with exactly one of result/error: ${JSON.stringify(a).slice(0, 300)}`);
      if (a.error) {
        counts.errors++;
        assert.equal(typeof a.error.code, 'number');
        assert.ok(CODES.has(a.error.code as number), `error code ${String(a.error.code)} is not an ErrorCode: ${String(a.error.message).slice(0, 300)}`);
        assert.ok(typeof a.error.message === 'string' && a.error.message.length > 0, 'an error says what is wrong');
        byCode.set(a.error.code as number, (byCode.get(a.error.code as number) ?? 0) + 1);
        if (a.error.code === ErrorCode.InternalError) internal.push(String(a.error.message).slice(0, 400));
      } else counts.results++;
    }
    assert.equal(c.answers.length, 0, `more answers than requests after batch ${sentinel}`);
    // V8 grows its heap over the first few thousand messages (huge strings among them), then holds: measure from there.
    if (i === Math.floor(frames.length / 5 / BATCH) * BATCH) rssAfterWarmup = rssMB(d.pid);
    if ((i / BATCH) % 10 === 0) rssSamples.push(Math.round(rssMB(d.pid)));
  }

  // One frame over the limit: this connection goes, the daemon stays.
  c.ws.send('x'.repeat(4 * 1024 * 1024 + 1));
  await new Promise<void>((r) => (c.closedWith !== null ? r() : c.ws.once('close', () => r())));
  assert.equal(c.closedWith, 1009, 'an oversized frame closes its connection with 1009 (message too big)');
  c = await FuzzClient.open(d);
  c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'last', method: 'daemon/status', params: {} }));
  assert.equal(((await c.until(1))[0]!.result as { pid: number }).pid, d.pid);
  c.ws.terminate();

  assert.equal(d.child.exitCode, null, 'the daemon never exited');
  assert.equal(d.child.signalCode, null);
  const rssEnd = rssMB(d.pid);
  const codes = Object.fromEntries([...byCode].map(([code, n]) => [Object.entries(ErrorCode).find(([, v]) => v === code)?.[0] ?? code, n]));
  t.diagnostic(`${counts.sent} frames sent (${counts.oversized} over 4 MiB left out), ${counts.owed} answers owed and received: ${counts.results} results, ${counts.errors} errors ${JSON.stringify(codes)}`);
  t.diagnostic(`daemon RSS ${rssAfterWarmup.toFixed(1)} MiB after the first fifth, ${rssEnd.toFixed(1)} MiB at the end; every 1,000 messages: ${rssSamples.join(', ')} MiB`);
  assert.deepEqual(internal, [], 'no request ended in an untyped internal error');
  assert.ok(counts.results > 0 && byCode.get(ErrorCode.InvalidParams)! > 0 && byCode.get(ErrorCode.MethodNotFound)! > 0 && byCode.get(ErrorCode.ParseError)! > 0, 'the fuzzer reached results and each kind of refusal');
  assert.ok(rssEnd - rssAfterWarmup <= RSS_GROWTH_LIMIT_MB, `RSS grew by ${(rssEnd - rssAfterWarmup).toFixed(1)} MiB (limit ${RSS_GROWTH_LIMIT_MB})`);
});
