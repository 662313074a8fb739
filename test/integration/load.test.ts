// The load of `npm run bench` (test/bench/load.ts), smaller and without
// timing: 20 WebSocket clients at once, mixed requests, against the real
// built daemon tracking 10,000 jobs. Every request is answered without an
// error and the daemon stays up. Latency figures are the bench's, not a test's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoadClient, runLoad, seedRegistry } from '../bench/load';
import { freshStateDir, killAllDaemons, startDaemon } from './daemonProcess';

after(killAllDaemons);

test('20 clients × 250 mixed requests with 10,000 jobs tracked: no errors, the daemon stays up', { timeout: 300_000 }, async (t) => {
  const stateDir = freshStateDir();
  const seed = seedRegistry(stateDir, 10_000);
  const d = await startDaemon({ stateDir, timeoutMs: 60_000 });
  t.after(() => {
    d.kill();
    fs.rmSync(path.dirname(stateDir), { recursive: true, force: true });
  });
  const run = await runLoad(d, seed, 20, 250);
  assert.equal(run.latencies.length, 20 * 250);
  assert.deepEqual([...new Set(run.errors)].slice(0, 5), [], `${run.errors.length} requests failed`);
  // Still answering, also the largest list.
  const c = await LoadClient.open(d, 'after-load');
  assert.equal((await c.call('jobs/list', { active: true, limit: 10_000 })).ok, true);
  c.close();
  assert.equal(d.child.exitCode, null);
});
