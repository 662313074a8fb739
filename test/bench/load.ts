// Load: 20 concurrent WebSocket clients × 1,000 mixed requests each against the
// real built daemon (dist/daemon.js) while it tracks 10,000 jobs, and the
// daemon's resident memory with those jobs. Figures for `npm run bench`
// (test/bench/main.ts); test/integration/load.test.ts runs a smaller load and
// asserts only that nothing failed.
//
// The 10,000 jobs are written into the registry before the daemon starts, as
// PENDING jobs of a cluster at 127.0.0.1:1 (nothing listens there): the daemon
// follows them (they are active) but its polls fail at once and back off, so
// the figures are the daemon's own cost, without SSH.
import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';
import { openDatabase } from '../../daemon/db/database';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { ErrorCode, PROTOCOL_VERSION } from '../../daemon/protocol';
import { freshStateDir, startDaemon, type RunningDaemon } from '../integration/daemonProcess';
import { row, type BenchPart } from './parts';
import { quantile } from './util';

export const LOAD = { clients: 20, requestsPerClient: 1000, jobs: 10_000, p99GoalMs: 50 } as const;

export interface LoadFigures {
  clients: number;
  requests: number;
  jobs: number;
  errors: number;
  errorSamples: string[];
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  wallMs: number;
  byMethod: Record<string, { n: number; p50Ms: number; p99Ms: number }>;
  rssIdleMB: number;
  rssAfterMB: number;
}

/** A registry with `jobs` PENDING jobs on one unreachable cluster; returns a few of their ids and SLURM ids. */
export function seedRegistry(stateDir: string, jobs: number): { ids: string[]; slurmIds: string[] } {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(path.join(stateDir, 'registry.db'));
  try {
    const clusters = new ClusterStore(db);
    const store = new JobStore(db);
    const c = clusters.add({ name: 'load', host: '127.0.0.1', port: 1, user: 'nobody', identityFile: '/nonexistent/id_load', knownHostsFile: '/nonexistent/known_hosts' });
    const ids: string[] = [];
    const slurmIds: string[] = [];
    db.transaction(() => {
      for (let i = 0; i < jobs; i++) {
        const j = store.create({ clusterId: c.id, name: `load-${i}`, script: '#!/bin/bash\ntrue\n', scriptPath: `/home/nobody/.slurm-ml/runs/${i}/job.sh`, runDir: `/home/nobody/.slurm-ml/runs/${i}`, sbatchArgs: [] });
        const slurmJobId = String(100_000 + i);
        store.update(j.id, { slurmJobId, state: 'PENDING', reason: 'Priority' });
        if (i % 97 === 0) {
          ids.push(j.id);
          slurmIds.push(slurmJobId);
        }
      }
    })();
    return { ids, slurmIds };
  } finally {
    db.close();
  }
}

export function rssMB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Pending {
  resolve: (v: { ok: boolean; error?: string }) => void;
}

/** A bare JSON-RPC client over the daemon's WebSocket (what the extension and the CLI speak). */
export class LoadClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { id?: number; error?: { code: number; message: string } };
      if (typeof m.id !== 'number') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      p.resolve(m.error ? { ok: false, error: `${m.error.code} ${m.error.message}` } : { ok: true });
    });
    ws.on('close', () => {
      for (const p of this.pending.values()) p.resolve({ ok: false, error: 'connection closed' });
      this.pending.clear();
    });
    ws.on('error', () => {});
  }

  static async open(d: Pick<RunningDaemon, 'port' | 'token'>, name: string): Promise<LoadClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/`, { headers: { Authorization: `Bearer ${d.token}` }, maxPayload: 256 << 20 });
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    const c = new LoadClient(ws);
    const init = await c.call('initialize', { protocolVersion: PROTOCOL_VERSION, clientName: name });
    if (!init.ok) throw new Error(`initialize: ${init.error}`);
    return c;
  }

  call(method: string, params: unknown, timeoutMs = 30_000): Promise<{ ok: boolean; error?: string }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, error: `${ErrorCode.RequestTimeout} no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
      });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** What a window or the CLI asks, weighted as they ask it: mostly single jobs and short lists. */
export function mixedRequest(i: number, seed: { ids: string[]; slurmIds: string[] }): [string, unknown] {
  const pick = <T>(xs: T[]) => xs[(i * 7919) % xs.length]!;
  switch (i % 20) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      return ['jobs/get', { ref: pick(seed.ids) }];
    case 5:
    case 6:
      return ['jobs/get', { ref: pick(seed.slurmIds) }];
    case 7:
    case 8:
      return ['jobs/list', { limit: 100 }];
    case 9:
      return ['jobs/list', { cluster: 'load', active: true, limit: 20 }];
    case 10:
    case 11:
      return ['health', {}];
    case 12:
    case 13:
      return ['daemon/status', {}];
    case 14:
    case 15:
      return ['clusters/list', {}];
    case 16:
      return ['clusters/budget', {}];
    case 17:
      return ['models/list', {}];
    case 18:
      return ['templates/list', {}];
    default:
      return ['jobs/list', { active: true, limit: 10 }];
  }
}

export interface LoadRun {
  latencies: number[];
  byMethod: Map<string, number[]>;
  errors: string[];
  wallMs: number;
}

/** `clients` connections, each sending `perClient` requests one after the other, all at once. */
export async function runLoad(d: Pick<RunningDaemon, 'port' | 'token'>, seed: { ids: string[]; slurmIds: string[] }, clients: number, perClient: number): Promise<LoadRun> {
  const conns = await Promise.all(Array.from({ length: clients }, (_, k) => LoadClient.open(d, `load-${k}`)));
  const latencies: number[] = [];
  const byMethod = new Map<string, number[]>();
  const errors: string[] = [];
  const t0 = performance.now();
  try {
    await Promise.all(
      conns.map(async (c, k) => {
        for (let i = 0; i < perClient; i++) {
          const [method, params] = mixedRequest(i + k * 31, seed);
          const s = performance.now();
          const r = await c.call(method, params);
          const dt = performance.now() - s;
          latencies.push(dt);
          let m = byMethod.get(method);
          if (!m) byMethod.set(method, (m = []));
          m.push(dt);
          if (!r.ok) errors.push(`${method}: ${r.error}`);
        }
      }),
    );
  } finally {
    for (const c of conns) c.close();
  }
  return { latencies, byMethod, errors, wallMs: performance.now() - t0 };
}

export async function loadFigures(progress: (m: string) => void): Promise<LoadFigures> {
  const stateDir = freshStateDir();
  progress(`load: a registry of ${LOAD.jobs.toLocaleString('en-US')} tracked jobs`);
  const seed = seedRegistry(stateDir, LOAD.jobs);
  const d = await startDaemon({ stateDir, timeoutMs: 60_000 });
  try {
    // Let it open the registry and settle before the idle figure.
    const warm = await LoadClient.open(d, 'load-warm');
    for (let i = 0; i < 50; i++) await warm.call(...mixedRequest(i, seed));
    warm.close();
    await new Promise((r) => setTimeout(r, 2000));
    const rssIdleMB = rssMB(d.pid);
    progress(`load: ${LOAD.clients} clients × ${LOAD.requestsPerClient} mixed requests`);
    const run = await runLoad(d, seed, LOAD.clients, LOAD.requestsPerClient);
    const rssAfterMB = rssMB(d.pid);
    const byMethod: LoadFigures['byMethod'] = {};
    for (const [m, xs] of run.byMethod) byMethod[m] = { n: xs.length, p50Ms: quantile(xs, 0.5), p99Ms: quantile(xs, 0.99) };
    return {
      clients: LOAD.clients,
      requests: run.latencies.length,
      jobs: LOAD.jobs,
      errors: run.errors.length,
      errorSamples: [...new Set(run.errors)].slice(0, 5),
      p50Ms: quantile(run.latencies, 0.5),
      p90Ms: quantile(run.latencies, 0.9),
      p99Ms: quantile(run.latencies, 0.99),
      maxMs: Math.max(...run.latencies),
      wallMs: run.wallMs,
      byMethod,
      rssIdleMB,
      rssAfterMB,
    };
  } finally {
    await d.stop(10_000).catch(() => d.kill());
    fs.rmSync(path.dirname(stateDir), { recursive: true, force: true });
  }
}

export const loadPart: BenchPart = {
  name: 'load',
  async run(ctx) {
    const f = await loadFigures(ctx.progress);
    const jobs = f.jobs.toLocaleString('en-US');
    const slowest = Object.entries(f.byMethod).sort((a, b) => b[1].p99Ms - a[1].p99Ms)[0];
    return {
      rows: [
        row('load: request latency, 20 clients', `p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms`, {
          jobs,
          source: 'real daemon',
          goal: `p99 ≤ ${LOAD.p99GoalMs} ms`,
          met: f.p99Ms <= LOAD.p99GoalMs,
          note: `${f.requests.toLocaleString('en-US')} mixed requests over the WebSocket in ${(f.wallMs / 1000).toFixed(1)} s (${Math.round(f.requests / (f.wallMs / 1000))}/s), max ${f.maxMs.toFixed(1)} ms; slowest method ${slowest?.[0]} p99 ${slowest?.[1].p99Ms.toFixed(1)} ms`,
        }),
        row('load: errors', f.errors, { jobs, source: 'real daemon', goal: '0', met: f.errors === 0, note: f.errorSamples.join('; ') }),
        row('daemon RSS, 10,000 jobs tracked', f.rssIdleMB, { unit: 'MiB', jobs, source: 'real daemon', note: `VmRSS idle after start; ${f.rssAfterMB.toFixed(1)} MiB after the load` }),
      ],
      json: { ...f },
    };
  },
};
