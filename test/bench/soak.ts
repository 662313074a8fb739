// The soak (`npm run bench -- --soak`, 10 minutes; `--soak-minutes=N`): the
// real built daemon on the local cluster, polling every 5 s, following a job
// that prints a line a second (its log streamed to two clients), while a third
// client asks something every 200 ms. The daemon's RSS is sampled every 10 s;
// the figure is its growth from the end of the first minute (warm-up: JIT,
// caches, SQLite pages) to the end. Goal < 10 %.
import WebSocket from 'ws';
import { daemonEnvironment } from '../../daemon/client';
import { ClustersAdd, ClustersBudget, DaemonStatus, Health, Initialize, JobsCancel, JobsGet, JobsList, JobsSubmit, LogsDidAppend, LogsTail, PROTOCOL_VERSION } from '../../daemon/protocol';
import { RpcConnection } from '../../daemon/rpc/connection';
import { webSocketTransport } from '../../daemon/rpc/transport';
import { loadClusterEnv } from '../integration/clusterEnv';
import { freshStateDir, startDaemon, type RunningDaemon } from '../integration/daemonProcess';
import { rssMB } from './load';
import { row, type BenchPart } from './parts';

export const SOAK_GROWTH_GOAL_PCT = 10;

async function client(d: RunningDaemon, name: string): Promise<RpcConnection> {
  const ws = new WebSocket(`ws://127.0.0.1:${d.port}/`, { headers: { Authorization: `Bearer ${d.token}` } });
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  const c = new RpcConnection(webSocketTransport(ws), { requestTimeoutMs: 60_000 });
  await c.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: name });
  return c;
}

export interface SoakFigures {
  minutes: number;
  samples: { atS: number; rssMB: number; heapUsedMB: number | null }[];
  /** Live JS heap (after the last GC) at the warm-up point and at the end, from the daemon's own metrics. */
  heapUsedMB: { baseline: number | null; end: number | null };
  baselineMB: number;
  endMB: number;
  maxMB: number;
  growthPct: number;
  requests: number;
  requestErrors: number;
  logBytes: number[];
}

export async function soakFigures(minutes: number, progress: (m: string) => void): Promise<SoakFigures> {
  const env = loadClusterEnv();
  // The metrics endpoint too: its nodejs_heap_size_used_bytes tells a leak (live objects) from the heap reserving room.
  // Started with the environment the CLI and the editor give a daemon (daemonEnvironment).
  const d = await startDaemon({ stateDir: freshStateDir(), env: daemonEnvironment({ SLURM_ML_POLL_INTERVAL_MS: '5000', SLURM_ML_METRICS_PORT: '0' }) });
  const clients: RpcConnection[] = [];
  let jobId: string | undefined;
  try {
    for (const n of ['soak-a', 'soak-b', 'soak-c']) clients.push(await client(d, n));
    const [a, b, c] = clients as [RpcConnection, RpcConnection, RpcConnection];
    await a.request(ClustersAdd, { name: 'local', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
    const seconds = Math.ceil(minutes * 60) + 60;
    const script = `#!/bin/bash\nfor i in $(seq 1 ${seconds}); do echo "soak line $i of ${seconds} $(date +%s.%N) SLURM_ML_PROGRESS $i/${seconds}"; sleep 1; done\n`;
    const job = await a.request(JobsSubmit, { cluster: 'local', script, scriptName: 'soak.sh', name: 'bench-soak', sbatchArgs: ['--partition=long', `--time=${Math.ceil(seconds / 60) + 2}`, '--cpus-per-task=1'] });
    jobId = job.id;
    progress(`soak: job ${job.slurmJobId} prints a line a second for ${minutes} min; 2 clients follow its log, 1 asks every 200 ms`);
    const logBytes = [0, 0];
    for (const [i, x] of [a, b].entries()) {
      x.onNotification(LogsDidAppend, (p) => (logBytes[i]! += p.data.length));
    }
    // Following needs the job running (its output path known): retry until the subscription holds.
    const follow = async (x: RpcConnection) => {
      for (;;) {
        try {
          const r = await x.request(LogsTail, { ref: job.id, follow: true, offset: 0 });
          if (r.subscriptionId) return;
        } catch {
          /* not started yet */
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    };
    await Promise.all([follow(a), follow(b)]);

    let requests = 0;
    let requestErrors = 0;
    let stop = false;
    const asking = (async () => {
      const asks = [() => c.request(JobsList, { limit: 20 }), () => c.request(Health, {}), () => c.request(ClustersBudget, {}), () => c.request(JobsGet, { ref: job.id })];
      while (!stop) {
        await asks[requests % asks.length]!().catch(() => requestErrors++);
        requests++;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const metricsUrl = (await c.request(DaemonStatus, {})).metrics;
    const heapUsed = async (): Promise<number | null> => {
      if (!metricsUrl) return null;
      try {
        const text = await (await fetch(metricsUrl)).text();
        const m = /^slurm_ml_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
        return m ? Number(m[1]) / 1024 / 1024 : null;
      } catch {
        return null;
      }
    };
    const samples: SoakFigures['samples'] = [];
    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    while (Date.now() < end) {
      samples.push({ atS: Math.round((Date.now() - t0) / 1000), rssMB: rssMB(d.pid), heapUsedMB: await heapUsed() });
      if (samples.length % 6 === 0) progress(`soak: ${Math.round((Date.now() - t0) / 60_000)} of ${minutes} min, RSS ${samples.at(-1)!.rssMB.toFixed(1)} MiB, ${requests} requests, log ${logBytes.join('/')} chars`);
      await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(0, end - Date.now()))));
    }
    samples.push({ atS: Math.round((Date.now() - t0) / 1000), rssMB: rssMB(d.pid), heapUsedMB: await heapUsed() });
    stop = true;
    await asking;
    const warm = samples.find((s) => s.atS >= Math.min(60, (minutes * 60) / 4)) ?? samples[0]!;
    const endMB = samples.at(-1)!.rssMB;
    return {
      minutes,
      samples,
      baselineMB: warm.rssMB,
      endMB,
      maxMB: Math.max(...samples.map((s) => s.rssMB)),
      growthPct: ((endMB - warm.rssMB) / warm.rssMB) * 100,
      heapUsedMB: { baseline: warm.heapUsedMB, end: samples.at(-1)!.heapUsedMB },
      requests,
      requestErrors,
      logBytes,
    };
  } finally {
    if (jobId) await clients[0]?.request(JobsCancel, { ref: jobId }).catch(() => undefined);
    for (const c of clients) c.close();
    await d.stop(15_000).catch(() => d.kill());
  }
}

export const soakPart: BenchPart = {
  name: 'soak',
  needsCluster: true,
  onlyWith: '--soak',
  async run(ctx) {
    const arg = [...ctx.argv].find((a) => a.startsWith('--soak-minutes='));
    const minutes = arg ? Number(arg.split('=')[1]) : 10;
    const f = await soakFigures(minutes, ctx.progress);
    return {
      rows: [
        row(`soak: daemon RSS growth, ${f.minutes} min`, f.growthPct, {
          unit: '%',
          source: 'real',
          goal: `< ${SOAK_GROWTH_GOAL_PCT} %`,
          met: f.growthPct < SOAK_GROWTH_GOAL_PCT,
          note: `${f.baselineMB.toFixed(1)} MiB after warm-up -> ${f.endMB.toFixed(1)} MiB (max ${f.maxMB.toFixed(1)}); live JS heap ${f.heapUsedMB.baseline?.toFixed(1) ?? '?'} -> ${f.heapUsedMB.end?.toFixed(1) ?? '?'} MiB; polling every 5 s, a job's log streamed to 2 clients (${f.logBytes.join(' / ')} chars), ${f.requests} requests (${f.requestErrors} failed)`,
        }),
      ],
      json: { ...f },
    };
  },
};
