// The protocol as JSON Schema, compared with the snapshot committed beside
// this test: any protocol change shows up in review as a change of
// protocol.schema.json (and should come with a PROTOCOL_VERSION bump when it
// is incompatible). Regenerate with UPDATE_SNAPSHOTS=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, PROTOCOL_VERSION, clientRequests, notifications, requests } from '../../daemon/protocol';

function protocolSchema(): unknown {
  const schema = (t: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(t, { io, unrepresentable: 'any' });
  return {
    protocolVersion: PROTOCOL_VERSION,
    errorCodes: ErrorCode,
    requests: Object.fromEntries(Object.values(requests).map((r) => [r.method, { params: schema(r.params, 'input'), result: schema(r.result, 'output') }])),
    notifications: Object.fromEntries(Object.values(notifications).map((n) => [n.method, { params: schema(n.params, 'output') }])),
    clientRequests: Object.fromEntries(Object.values(clientRequests).map((r) => [r.method, { params: schema(r.params, 'output'), result: schema(r.result, 'input') }])),
  };
}

test('the protocol matches its committed JSON Schema snapshot', () => {
  const file = path.join(__dirname, 'snapshots', 'protocol.schema.json');
  const current = JSON.stringify(protocolSchema(), null, 2) + '\n';
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, current);
  }
  assert.equal(current, fs.readFileSync(file, 'utf8'), 'the protocol changed: review it, bump PROTOCOL_VERSION if incompatible, and run with UPDATE_SNAPSHOTS=1');
});

test('method names follow area/verb and notifications area/didSomething', () => {
  for (const m of Object.keys(requests)) assert.match(m, /^(initialize|health|[a-z]+\/[a-z][A-Za-z]*)$/);
  for (const m of Object.keys(notifications)) assert.match(m, /^[a-z]+\/did[A-Z][A-Za-z]*$/);
  for (const m of Object.keys(clientRequests)) assert.match(m, /^[a-z]+\/[a-z][A-Za-z]*$/);
});
