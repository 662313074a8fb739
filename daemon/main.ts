// The daemon process: reads its settings, takes the per-user lock, opens the
// registry, starts serving on 127.0.0.1, announces itself in the state file,
// and shuts down cleanly on SIGTERM/SIGINT or when its parent goes away.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { LogLevel, PROTOCOL_VERSION } from './protocol';
import { createLogger, type LogSink } from './log';
import { ensureStateDir, metricsToken, statePaths, writeStateFile } from './state';
import { acquireLock, AlreadyRunningError, RunningElsewhereError } from './lock';
import { openDatabase } from './db/database';
import { filesystemOf } from './db/filesystem';
import { createApp } from './app';
import { listen, type ListeningServer } from './server';
import { DaemonMetrics, metricsAddress, serveMetrics, type MetricsServer } from './metrics';
import { DAEMON_VERSION } from './version';
import { MIN_TRAINING_JOBS, MIN_TRAINING_JOBS_FLOOR } from './runtime/service';

/** Exit status when another daemon already holds the lock: the caller should connect to that one. */
export const EXIT_ALREADY_RUNNING = 3;
/** The state directory's daemon runs on another machine (a shared home): this one must not start. */
export const EXIT_RUNNING_ELSEWHERE = 4;

function wholeNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${text}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'log-level': { type: 'string' },
      port: { type: 'string' },
      'poll-interval-ms': { type: 'string' },
      'parent-pid': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const level = LogLevel.parse(values['log-level'] ?? env.SLURM_ML_LOG_LEVEL ?? 'info');
  const sink: LogSink = { level, write: (line) => process.stderr.write(line) };
  const log = createLogger(sink, { pid: process.pid });
  const port = wholeNumber('--port', values.port ?? env.SLURM_ML_PORT, 0);
  const pollIntervalMs = Math.max(250, wholeNumber('--poll-interval-ms', values['poll-interval-ms'] ?? env.SLURM_ML_POLL_INTERVAL_MS, 30_000));
  const parentPid = wholeNumber('--parent-pid', values['parent-pid'], 0);
  // Unset: the default in runtime/service.ts; 0 turns scheduled retraining off.
  const retrainAfter = env.SLURM_ML_RUNTIME_RETRAIN_AFTER === undefined ? undefined : wholeNumber('SLURM_ML_RUNTIME_RETRAIN_AFTER', env.SLURM_ML_RUNTIME_RETRAIN_AFTER, 0);
  // Unset: MIN_TRAINING_JOBS (200); never below MIN_TRAINING_JOBS_FLOOR.
  const minTrainingJobs = env.SLURM_ML_RUNTIME_MIN_JOBS === undefined ? undefined : wholeNumber('SLURM_ML_RUNTIME_MIN_JOBS', env.SLURM_ML_RUNTIME_MIN_JOBS, MIN_TRAINING_JOBS);
  if (minTrainingJobs !== undefined && minTrainingJobs < MIN_TRAINING_JOBS_FLOOR) {
    throw new Error(`SLURM_ML_RUNTIME_MIN_JOBS must be at least ${MIN_TRAINING_JOBS_FLOOR}, got "${minTrainingJobs}"`);
  }
  // Off unless a port is given; a non-loopback host is refused here, before anything starts.
  const metricsAt = metricsAddress(values['metrics-port'] ?? env.SLURM_ML_METRICS_PORT, values['metrics-host'] ?? env.SLURM_ML_METRICS_HOST);

  // Everything the daemon writes (registry, logs, state) is the user's alone.
  process.umask(0o077);
  const paths = statePaths(env);
  ensureStateDir(paths.dir);
  let lock: ReturnType<typeof acquireLock>;
  try {
    lock = acquireLock(paths.lockFile, {
      // Another daemon took the lock over (this one's heartbeat stalled past LOCK_STALE_MS): two must never write one registry.
      onLost: (holder) => {
        log.error('the daemon lock was taken over; stopping', { lockFile: paths.lockFile, holderHost: holder?.host, holderPid: holder?.pid });
        stopAndExit('lock lost');
      },
    });
  } catch (err) {
    if (err instanceof AlreadyRunningError) {
      log.warn('not starting: another daemon runs', { otherPid: err.pid });
      process.exit(EXIT_ALREADY_RUNNING);
    }
    if (err instanceof RunningElsewhereError) {
      log.error(`not starting: ${err.message}`, { otherHost: err.holder.host, otherPid: err.holder.pid });
      process.exit(EXIT_RUNNING_ELSEWHERE);
    }
    throw err;
  }

  // WAL does not work over a network filesystem (a home on NFS or Lustre): the rollback journal does.
  const filesystem = filesystemOf(paths.dir);
  const journal = filesystem.network ? 'delete' : 'wal';
  const db = openDatabase(paths.database, undefined, { journalMode: journal });
  log.info('registry', { database: paths.database, filesystem: filesystem.type, mountPoint: filesystem.mountPoint, journal });
  const token = randomBytes(32).toString('hex');
  const startedAt = new Date().toISOString();
  let server: ListeningServer | undefined;
  let metricsServer: MetricsServer | undefined;
  const metrics = new DaemonMetrics();
  let stopping: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info('shutting down', { why });
      try {
        fs.unlinkSync(paths.stateFile);
      } catch {
        /* not written yet */
      }
      await app.close();
      await metricsServer?.close();
      await server?.close();
      db.close();
      lock.release();
      log.info('stopped');
    })();
    return stopping;
  };
  const stopAndExit = (why: string) => void shutdown(why).then(() => process.exit(0));

  const app = createApp({
    db,
    databasePath: paths.database,
    log,
    logSink: sink,
    pollIntervalMs,
    runtimeRetrainAfterJobs: retrainAfter,
    runtimeMinTrainingJobs: minTrainingJobs,
    cacheDir: path.join(paths.dir, 'cache', 'models'),
    location: { stateDir: paths.dir, stateFile: paths.stateFile, port: () => server?.port ?? 0, startedAt, metricsUrl: () => metricsServer?.url ?? null, metricsTokenFile: () => (metricsServer ? paths.metricsTokenFile : null), storage: { filesystem: filesystem.type, journal } },
    metrics,
    requestShutdown: () => stopAndExit('shutdown request'),
  });

  try {
    server = await listen({ port, token, dispatcher: app.dispatcher, log });
    if (metricsAt) {
      try {
        metricsServer = await serveMetrics(metrics, metricsAt, metricsToken(paths.metricsTokenFile), log);
      } catch (err) {
        throw new Error(`metrics endpoint on ${metricsAt.host}:${metricsAt.port}: ${(err as Error).message}`);
      }
      log.info('metrics endpoint', { url: metricsServer.url });
    }
  } catch (err) {
    log.error('cannot listen', { error: (err as Error).message, port });
    await app.close();
    await server?.close();
    db.close();
    lock.release();
    process.exit(1);
  }
  writeStateFile(paths.stateFile, { pid: process.pid, port: server.port, token, protocolVersion: PROTOCOL_VERSION, daemonVersion: DAEMON_VERSION, startedAt, host: os.hostname() });
  log.info('listening', { host: '127.0.0.1', port: server.port, stateFile: paths.stateFile, database: paths.database, pollIntervalMs });
  app.poller.start();

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stopAndExit(sig));
  if (parentPid > 0) {
    // When the editor that started us dies without a word, go too.
    const timer = setInterval(() => {
      try {
        process.kill(parentPid, 0);
      } catch {
        clearInterval(timer);
        stopAndExit('parent process gone');
      }
    }, 5000);
    timer.unref();
  }
  // A bug in one request must not take down every client's daemon.
  process.on('uncaughtException', (err) => log.error('uncaught exception', { error: err.stack ?? String(err) }));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { error: (err as Error)?.stack ?? String(err) }));
}

main().catch((err: unknown) => {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'daemon failed to start', error: (err as Error)?.message ?? String(err) }) + '\n');
  process.exit(1);
});
