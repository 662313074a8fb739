// `slurm-ml`: a client of the daemon over the same protocol as the extension.
// Prints for people by default and stable JSON with --json (documented in the
// README). Errors are one line on stderr and a non-zero exit status.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  ClustersAdd,
  ClustersList,
  ClustersRemove,
  ClustersTest,
  DaemonShutdown,
  DaemonStatus,
  ErrorCode,
  Health,
  JobsCancel,
  JobsDidChange,
  JobsGet,
  JobsList,
  JobsSubmit,
  JobsResubmit,
  JobsResubmitPlan,
  ClustersBudget,
  type JobInfo,
} from '../protocol';
import { RpcError, type RpcConnection } from '../rpc/connection';
import { connectOrStartDaemon, connectToRunningDaemon, type ConnectedDaemon } from '../client';
import { isProcessAlive, readStateFile, statePaths } from '../state';
import { DAEMON_VERSION } from '../version';
import { formatJob, formatJobsTable, formatDuration } from './format';
import { logsCommand } from './logs';
import { canPromptInTerminal, terminalPrompt } from './prompt';

/** Exit statuses, documented in the README. */
export const Exit = { Ok: 0, Error: 1, Usage: 2, JobUnsuccessful: 4 } as const;

class UsageError extends Error {}

const USAGE = `usage: slurm-ml <command> [options]

  daemon start|stop|status [--json]   manage the per-user daemon
  health [--json]                      database, clusters' SSH state, poller
  cluster add NAME --host H [--port P] --user U --identity FILE [--known-hosts FILE] [--json]
  cluster add NAME --ssh-alias ALIAS [--ssh-config FILE] [--json]   settings from ~/.ssh/config
  cluster list [--json]
  cluster test NAME [--json]           connect, check the host key, run a command
  cluster remove NAME
  submit SCRIPT --cluster NAME [--name JOBNAME] [--wait] [--json] [-- SBATCH_OPTION...]
  jobs [--cluster NAME] [--active] [--limit N] [--json]
  job ID [--json]                      ID: uuid, uuid prefix, SLURM id or CLUSTER:SLURMID
  cancel ID [--tasks 3-7] [--json]      cancel a job, or only some tasks of an array
  resubmit ID [--time T] [--mem M] [--yes] [--wait] [--json]
                                       submit an ended job again (after TIMEOUT/OOM: more time/memory)
  budget [--json]                      commands and connections per cluster, poll schedule
  logs ID [--stderr] [--follow] [--bytes N|all]
                                       a job's output as written (last 64 KiB; --follow: until the job ends)

environment: SLURM_ML_STATE_DIR (default ~/.local/state/slurm-ml), SLURM_ML_LOG_LEVEL,
             SLURM_ML_POLL_INTERVAL_MS (for a daemon this command starts)`;

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<O extends Options>(args: string[], options: O, positionals: number) {
  const config = { args, options: { json: { type: 'boolean' as const }, ...options }, allowPositionals: true as const, strict: true as const };
  let r: ReturnType<typeof parseArgs<typeof config>>;
  try {
    r = parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (r.positionals.length > positionals) throw new UsageError(`unexpected argument "${r.positionals[positionals]}"`);
  return r;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`);
  return value;
}

function print(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

const cliPaths = () => statePaths(process.env);

async function connect(): Promise<ConnectedDaemon> {
  return connectOrStartDaemon({
    paths: cliPaths(),
    clientName: 'slurm-ml-cli',
    clientVersion: DAEMON_VERSION,
    daemonScript: path.join(__dirname, 'daemon.js'),
    requestTimeoutMs: 60_000,
    // Only with a person at a terminal: otherwise the daemon asks another client (or nobody).
    prompt: canPromptInTerminal() ? terminalPrompt : undefined,
  });
}

async function withDaemon<T>(f: (rpc: RpcConnection) => Promise<T>): Promise<T> {
  const d = await connect();
  try {
    return await f(d.rpc);
  } finally {
    d.rpc.close();
  }
}

async function daemonCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, {}, 0);
  const paths = cliPaths();
  switch (sub) {
    case 'start': {
      const d = await connect();
      const status = await d.rpc.request(DaemonStatus, {});
      d.rpc.close();
      print(values.json, { running: true, ...status }, () => `daemon running: pid ${status.pid}, port ${status.port}, state ${status.stateFile}`);
      return Exit.Ok;
    }
    case 'stop': {
      const d = await connectToRunningDaemon({ paths, clientName: 'slurm-ml-cli' });
      if (!d) {
        print(values.json, { running: false, stopped: false }, () => 'no daemon running');
        return Exit.Ok;
      }
      const pid = d.state.pid;
      await d.rpc.request(DaemonShutdown, {});
      d.rpc.close();
      const deadline = Date.now() + 10_000;
      while (isProcessAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (isProcessAlive(pid)) throw new Error(`the daemon (pid ${pid}) did not stop within 10 s`);
      print(values.json, { running: false, stopped: true, pid }, () => `daemon stopped (pid ${pid})`);
      return Exit.Ok;
    }
    case 'status': {
      const d = await connectToRunningDaemon({ paths, clientName: 'slurm-ml-cli' });
      if (!d) {
        const stale = readStateFile(paths.stateFile);
        print(values.json, { running: false, stateFile: paths.stateFile }, () => `no daemon running${stale ? ' (stale state file)' : ''}; state dir ${paths.dir}`);
        return Exit.Error;
      }
      const status = await d.rpc.request(DaemonStatus, {});
      d.rpc.close();
      print(values.json, { running: true, ...status }, () =>
        [
          `daemon running: pid ${status.pid}, version ${status.daemonVersion}, protocol ${status.protocolVersion}`,
          `  listening  127.0.0.1:${status.port}`,
          `  state      ${status.stateFile}`,
          `  database   ${status.database}`,
          `  log level  ${status.logLevel}`,
          `  started    ${status.startedAt}`,
        ].join('\n'),
      );
      return Exit.Ok;
    }
    default:
      throw new UsageError(sub ? `unknown daemon command "${sub}" (start, stop, status)` : 'daemon needs start, stop or status');
  }
}

/** `alice@login:22`, or `ssh alias hpc` when the ssh config supplies the rest. */
function describeTarget(c: { sshAlias: string | null; user: string | null; host: string | null; port: number | null }): string {
  const explicit = c.host ? `${c.user ? `${c.user}@` : ''}${c.host}${c.port ? `:${c.port}` : ''}` : '';
  return c.sshAlias ? `ssh alias ${c.sshAlias}${explicit ? ` (${explicit})` : ''}` : explicit;
}

async function clusterCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const { values, positionals } = parse(
        rest,
        {
          host: { type: 'string' },
          port: { type: 'string' },
          user: { type: 'string' },
          identity: { type: 'string' },
          'known-hosts': { type: 'string' },
          'ssh-alias': { type: 'string' },
          'ssh-config': { type: 'string' },
        },
        1,
      );
      // With an ssh config alias, ssh's own settings fill in what is not given here.
      const alias = values['ssh-alias'];
      let port: number | undefined;
      const portText = values.port ?? (alias === undefined ? '22' : undefined);
      if (portText !== undefined) {
        port = Number(portText);
        if (!Number.isInteger(port)) throw new UsageError(`--port must be a number, got "${portText}"`);
      }
      const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
      const info = await withDaemon((rpc) =>
        rpc.request(ClustersAdd, {
          name: need(positionals[0], 'cluster NAME'),
          sshAlias: alias,
          host: alias === undefined ? need(values.host, '--host (or --ssh-alias)') : values.host,
          port,
          user: alias === undefined ? need(values.user, '--user') : values.user,
          identityFile: alias === undefined ? need(abs(values.identity), '--identity') : abs(values.identity),
          knownHostsFile: abs(values['known-hosts']),
          sshConfigFile: abs(values['ssh-config']),
        }),
      );
      const target = info.sshAlias ? `ssh alias ${info.sshAlias}${info.sshConfigFile ? ` (${info.sshConfigFile})` : ''}` : `${info.user}@${info.host}:${info.port}`;
      print(values.json, info, () => `added cluster ${info.name}: ${target} (test it: slurm-ml cluster test ${info.name})`);
      return Exit.Ok;
    }
    case 'list': {
      const { values } = parse(rest, {}, 0);
      const { clusters } = await withDaemon((rpc) => rpc.request(ClustersList, {}));
      print(values.json, { clusters }, () =>
        clusters.length === 0
          ? 'no clusters; add one: slurm-ml cluster add NAME --host H --user U --identity FILE'
          : clusters.map((c) => `${c.name}\t${describeTarget(c)}\t${c.connection.status}${c.connection.message ? `: ${c.connection.message}` : ''}`).join('\n'),
      );
      return Exit.Ok;
    }
    case 'test': {
      const { values, positionals } = parse(rest, {}, 1);
      const name = need(positionals[0], 'cluster NAME');
      const r = await withDaemon((rpc) => rpc.request(ClustersTest, { name }, { timeoutMs: 60_000 }));
      print(values.json, r, () =>
        [`cluster ${r.name}: ok`, `  host key   ${r.hostKeyFingerprint}`, `  user       ${r.remoteUser}`, `  slurm      ${r.slurmVersion ?? 'not found'}`, `  round trip ${r.latencyMs} ms`].join('\n'),
      );
      return Exit.Ok;
    }
    case 'remove': {
      const { values, positionals } = parse(rest, {}, 1);
      const name = need(positionals[0], 'cluster NAME');
      const r = await withDaemon((rpc) => rpc.request(ClustersRemove, { name }));
      print(values.json, r, () => `removed cluster ${name}`);
      return Exit.Ok;
    }
    default:
      throw new UsageError(sub ? `unknown cluster command "${sub}" (add, list, test, remove)` : 'cluster needs add, list, test or remove');
  }
}

/** Waits until the job is terminal, reporting state changes on stderr. */
async function waitForJob(rpc: RpcConnection, job: JobInfo, json: boolean | undefined): Promise<JobInfo> {
  let current = job;
  let lastState = '';
  const report = (j: JobInfo) => {
    if (!json && j.state !== lastState) {
      process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${j.slurmJobId ?? '-'} ${j.state}${j.reason && j.reason !== 'None' ? ` (${j.reason})` : ''}\n`);
      lastState = j.state;
    }
  };
  report(current);
  return new Promise<JobInfo>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (j: JobInfo) => {
      off();
      clearTimeout(timer);
      resolve(j);
    };
    const off = rpc.onNotification(JobsDidChange, ({ job: j }) => {
      if (j.id !== current.id) return;
      current = j;
      report(j);
      if (j.terminal) finish(j);
    });
    rpc.onClose((reason) => reject(new RpcError(ErrorCode.ConnectionClosed, `lost the daemon while waiting: ${reason}`)));
    // Notifications are the fast path; this catches anything missed.
    const check = async () => {
      try {
        const j = await rpc.request(JobsGet, { ref: current.id });
        current = j;
        report(j);
        if (j.terminal) return finish(j);
      } catch (err) {
        return reject(err);
      }
      timer = setTimeout(check, 5000);
    };
    void check();
  });
}

async function submitCommand(args: string[]): Promise<number> {
  const dd = args.indexOf('--');
  const own = dd >= 0 ? args.slice(0, dd) : args;
  const sbatchArgs = dd >= 0 ? args.slice(dd + 1) : [];
  const { values, positionals } = parse(own, { cluster: { type: 'string' }, name: { type: 'string' }, wait: { type: 'boolean' } }, 1);
  const scriptFile = need(positionals[0], 'SCRIPT');
  let script: string;
  try {
    script = fs.readFileSync(scriptFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${scriptFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const cluster = need(values.cluster, '--cluster');
  return withDaemon(async (rpc) => {
    const job = await rpc.request(
      JobsSubmit,
      { cluster, script, scriptName: path.basename(scriptFile), name: values.name, sbatchArgs },
      { timeoutMs: 120_000 },
    );
    if (!values.wait) {
      print(values.json, job, () => `submitted ${job.id} as SLURM job ${job.slurmJobId} on ${job.cluster}`);
      return Exit.Ok;
    }
    if (!values.json) process.stderr.write(`submitted ${job.id} as SLURM job ${job.slurmJobId} on ${job.cluster}\n`);
    const final = await waitForJob(rpc, job, values.json);
    print(values.json, final, () => formatJob(final));
    return final.state === 'COMPLETED' ? Exit.Ok : Exit.JobUnsuccessful;
  });
}

async function jobsCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { cluster: { type: 'string' }, active: { type: 'boolean' }, limit: { type: 'string' } }, 0);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, got "${values.limit}"`);
  const { jobs } = await withDaemon((rpc) => rpc.request(JobsList, { cluster: values.cluster, active: values.active ? true : undefined, limit }));
  print(values.json, { jobs }, () => formatJobsTable(jobs));
  return Exit.Ok;
}

async function jobCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, 1);
  const ref = need(positionals[0], 'job ID');
  const job = await withDaemon((rpc) => rpc.request(JobsGet, { ref }));
  print(values.json, job, () => formatJob(job));
  return Exit.Ok;
}

async function cancelCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { tasks: { type: 'string' } }, 1);
  const ref = need(positionals[0], 'job ID');
  const job = await withDaemon((rpc) => rpc.request(JobsCancel, { ref, tasks: values.tasks }, { timeoutMs: 60_000 }));
  const what = values.tasks ? `tasks ${values.tasks} of array job ${job.slurmJobId}` : `SLURM job ${job.slurmJobId}`;
  print(values.json, job, () => `cancel sent for ${what} on ${job.cluster}; state now ${job.state}`);
  return Exit.Ok;
}

/** Asks a yes/no question on the terminal; false when there is no terminal to ask on. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

async function resubmitCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { time: { type: 'string' }, mem: { type: 'string' }, yes: { type: 'boolean' }, wait: { type: 'boolean' } }, 1);
  const ref = need(positionals[0], 'job ID');
  return withDaemon(async (rpc) => {
    const plan = await rpc.request(JobsResubmitPlan, { ref });
    const time = values.time ?? plan.time ?? undefined;
    const mem = values.mem ?? plan.mem ?? undefined;
    const changes = [time ? `--time=${time}` : null, mem ? `--mem=${mem}` : null].filter(Boolean).join(' ') || 'no changes';
    if (!values.yes) {
      process.stderr.write(`${plan.reason}\n`);
      if (!(await confirm(`Resubmit with ${changes}?`))) {
        process.stderr.write(process.stdin.isTTY ? 'not resubmitted\n' : `not resubmitted: confirm with --yes (would use ${changes})\n`);
        return Exit.Error;
      }
    }
    const job = await rpc.request(JobsResubmit, { ref, time, mem }, { timeoutMs: 120_000 });
    if (!values.wait) {
      print(values.json, job, () => `resubmitted as ${job.id}, SLURM job ${job.slurmJobId} on ${job.cluster} (${changes})`);
      return Exit.Ok;
    }
    const final = await waitForJob(rpc, job, values.json);
    print(values.json, final, () => formatJob(final));
    return final.state === 'COMPLETED' ? Exit.Ok : Exit.JobUnsuccessful;
  });
}

async function budgetCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {}, 0);
  const { clusters } = await withDaemon((rpc) => rpc.request(ClustersBudget, {}));
  print(values.json, { clusters }, () =>
    clusters.length === 0
      ? 'no clusters'
      : clusters
          .map((c) =>
            [
              `${c.name}: ${c.commandsLastMinute} command(s) in the last minute, ${c.connectionsLastMinute}/${c.connectionsPerMinuteCap} new connection(s)`,
              `  polling  ${c.paused ? `paused (${c.paused})` : `every ${formatDuration(c.pollIntervalMs / 1000)}, next ${c.nextPollAt ?? '-'}`}; last ${c.lastPollAt ?? 'never'}`,
            ].join('\n'),
          )
          .join('\n'),
  );
  return Exit.Ok;
}

async function healthCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {}, 0);
  const h = await withDaemon((rpc) => rpc.request(Health, {}));
  print(values.json, h, () =>
    [
      `health: ${h.ok ? 'ok' : 'PROBLEMS'}`,
      `  database  ${h.database.ok ? 'ok' : `FAILED: ${h.database.message}`} (schema ${h.database.schemaVersion}, ${h.database.path})`,
      ...h.clusters.map((c) => `  cluster   ${c.name}: ${c.connection.status}${c.connection.message ? ` (${c.connection.message})` : ''}`),
      `  poller    ${h.poller.running ? 'running' : 'stopped'}, every ${formatDuration(h.poller.intervalMs / 1000)}, ${h.poller.activeJobs} active job(s), last cycle ${h.poller.lastCycleAt ?? 'never'}${h.poller.lastError ? `, last error: ${h.poller.lastError}` : ''}`,
    ].join('\n'),
  );
  return h.ok ? Exit.Ok : Exit.Error;
}

export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'daemon':
        return await daemonCommand(rest);
      case 'cluster':
        return await clusterCommand(rest);
      case 'submit':
        return await submitCommand(rest);
      case 'jobs':
        return await jobsCommand(rest);
      case 'job':
        return await jobCommand(rest);
      case 'cancel':
        return await cancelCommand(rest);
      case 'resubmit':
        return await resubmitCommand(rest);
      case 'budget':
        return await budgetCommand(rest);
      case 'logs':
        return await logsCommand(rest, connect);
      case 'health':
        return await healthCommand(rest);
      case '--version':
      case 'version':
        process.stdout.write(`slurm-ml ${DAEMON_VERSION}\n`);
        return Exit.Ok;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return command === undefined ? Exit.Usage : Exit.Ok;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`slurm-ml: ${err.message}\n(run \`slurm-ml help\` for usage)\n`);
      return Exit.Usage;
    }
    const message = (err as Error)?.message ?? String(err);
    process.stderr.write(`slurm-ml: ${message}\n`);
    return Exit.Error;
  }
}

if (require.main === module) {
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
