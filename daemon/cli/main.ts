// `slurm-ml`: a client of the daemon over the same protocol as the extension.
// Prints for people by default and stable JSON with --json (documented in the
// README). Errors are one line on stderr and a non-zero exit status.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ClustersAdd,
  ClustersList,
  ClustersRemove,
  ClustersTest,
  DaemonShutdown,
  DaemonStatus,
  Health,
  JobsCancel,
  JobsGet,
  JobsList,
  JobsSubmit,
  JobsResubmit,
  JobsResubmitPlan,
  ClustersBudget,
} from '../protocol';
import { connectToRunningDaemon } from '../client';
import { metricsAddress } from '../metrics';
import { isProcessAlive, readStateFile } from '../state';
import { DAEMON_VERSION } from '../version';
import { dosLineBreaksMessage, findDosLineBreaks } from '../slurm/lineEndings';
import { formatJob, formatJobsTable, formatDuration } from './format';
import { logsCommand } from './logs';
import { renderCommand, templatesCommand } from './templates';
import { estimateCommand, runtimeInfoCommand, runtimeTrainCommand } from './estimate';
import { runtimeCommand } from './runtime';
import { evaluateCommand, gateCommand, rulesCommand, modelCommand, modelsCommand, predictCommand, promoteCommand, rollbackCommand, trainCommand, tryCommand } from './ml';
import { Exit, UsageError, explainLostSubmit, cliPaths, confirm, connect, need, parse, print, waitForJob, withDaemon } from './common';

const USAGE = `usage: slurm-ml <command> [options]

  daemon start|stop|status [--json]   manage the per-user daemon
  daemon start --metrics-port P [--metrics-host 127.0.0.1]   with Prometheus metrics on http://127.0.0.1:P/metrics
  health [--json]                      database, clusters' SSH state, poller
  cluster add NAME --host H [--port P] --user U --identity FILE [--known-hosts FILE] [--json]
  cluster add NAME --ssh-alias ALIAS [--ssh-config FILE] [--json]   settings from ~/.ssh/config
  cluster add NAME --local [--json]    SLURM's commands on this machine (no SSH)
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
  templates [--workspace DIR] [--json]  sbatch templates: builtin ones and the workspace's own
  render TEMPLATE [--workspace DIR] [--var k=v]... [--json]
                                       the script a template gives (printed, not submitted)

ML workflows (WORKFLOW: --cluster C --entrypoint FILE [--config FILE] [--template T] [--var k=v]... [--workspace DIR] [--wait]):
  train MODEL WORKFLOW [--tag k=v]...   a COMPLETED training job becomes MODEL's next version
  predict MODEL[@ALIAS|@vN] --input PATH WORKFLOW
  evaluate MODEL[@ALIAS|@vN] --dataset PATH WORKFLOW
  models [--json]                      models, their versions and aliases
  model NAME [--json]                  versions, metrics, alias history
  promote NAME VERSION [--alias prod] [--force --reason TEXT]   prod needs a passing gate
  rollback NAME [--alias prod] [--reason TEXT]
  gate NAME --candidate V [--baseline V] [--json]   exit 5 when the candidate fails
  rules NAME [--set METRIC:higher|lower:TOL:absolute|relative]... [--reset] [--json]   the model's gate rules
  try NAME@V --input FILE.json [--json]              run an ONNX version locally

Runtime estimates:
  estimate SCRIPT --cluster C [--start] [--json] [-- SBATCH_OPTION...]   p10/p50/p90 before submitting
  runtime info [--cluster C] [--json]  what estimates learn from
  runtime train --cluster C [--json]   learn a runtime model from C's finished jobs; promoted if not worse
  runtime evaluate --trace FILE [--format swf|sacct] [--check] [--json]   offline replay (see runtime help)

environment: SLURM_ML_STATE_DIR (default ~/.local/state/slurm-ml), SLURM_ML_LOG_LEVEL,
             SLURM_ML_POLL_INTERVAL_MS, SLURM_ML_METRICS_PORT, SLURM_ML_METRICS_HOST (for a daemon this command starts)`;

async function daemonCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, sub === 'start' ? { 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' } } : {}, 0);
  const paths = cliPaths();
  switch (sub) {
    case 'start': {
      const metricsPort = values['metrics-port'] as string | undefined;
      const metricsHost = values['metrics-host'] as string | undefined;
      let wanted: ReturnType<typeof metricsAddress>;
      try {
        wanted = metricsAddress(metricsPort, metricsHost);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const d = await connect(wanted ? ['--metrics-port', String(wanted.port), '--metrics-host', wanted.host] : []);
      const status = await d.rpc.request(DaemonStatus, {});
      d.rpc.close();
      // A daemon that already ran was not started with these flags: say so rather than pretend.
      if (wanted && (status.metrics === null || (wanted.port !== 0 && !status.metrics.endsWith(`:${wanted.port}/metrics`)))) {
        throw new Error(
          `a daemon already runs (pid ${status.pid}) ${status.metrics ? `with metrics at ${status.metrics}` : 'without metrics'}; stop it first (slurm-ml daemon stop), then start it with --metrics-port ${metricsPort}`,
        );
      }
      print(values.json, { running: true, ...status }, () => `daemon running: pid ${status.pid}, port ${status.port}, state ${status.stateFile}${status.metrics ? `, metrics ${status.metrics}` : ''}`);
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
          `  metrics    ${status.metrics ?? 'off'}`,
          ...(status.metricsTokenFile ? [`  metrics token ${status.metricsTokenFile} (Authorization: Bearer, Prometheus: credentials_file)`] : []),
          `  state      ${status.stateFile}`,
          `  database   ${status.database}${status.registryJournal ? ` (${status.stateFilesystem ?? 'unknown'} filesystem, ${status.registryJournal === 'wal' ? 'write-ahead log' : 'rollback journal: WAL does not work over a network filesystem'})` : ''}`,
          ...(status.host ? [`  host       ${status.host}`] : []),
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
function describeTarget(c: { kind?: 'ssh' | 'local'; sshAlias: string | null; user: string | null; host: string | null; port: number | null }): string {
  if (c.kind === 'local') return 'this machine (local)';
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
          local: { type: 'boolean' },
        },
        1,
      );
      if (values.local) {
        const ssh = ['host', 'port', 'user', 'identity', 'known-hosts', 'ssh-alias', 'ssh-config'].filter((k) => values[k as keyof typeof values] !== undefined);
        if (ssh.length > 0) throw new UsageError(`--local runs SLURM's commands on this machine: it takes no ${ssh.map((k) => `--${k}`).join(', ')}`);
        const info = await withDaemon((rpc) => rpc.request(ClustersAdd, { name: need(positionals[0], 'cluster NAME'), kind: 'local' }));
        print(values.json, info, () => `added cluster ${info.name}: this machine, SLURM's commands run here (test it: slurm-ml cluster test ${info.name})`);
        return Exit.Ok;
      }
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
        [`cluster ${r.name}: ok`, `  host key   ${r.hostKeyFingerprint}`, `  user       ${r.remoteUser}`, `  slurm      ${r.slurmVersion ?? 'not found'}${r.slurm?.note ? ` (${r.slurm.note})` : ''}`, `  round trip ${r.latencyMs} ms`].join('\n'),
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
  // The daemon converts them; say so, since the file on disk stays as it is (and plain sbatch would refuse it).
  const crlf = findDosLineBreaks(script);
  if (crlf) process.stderr.write(`note: ${scriptFile}: ${dosLineBreaksMessage(crlf)}\n`);
  return withDaemon(async (rpc) => {
    const job = await rpc.request(
      JobsSubmit,
      { cluster, script, scriptName: path.basename(scriptFile), name: values.name, sbatchArgs },
      { timeoutMs: 120_000 },
    ).catch(explainLostSubmit);
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
      `  database  ${h.database.ok ? 'ok' : `FAILED: ${h.database.message}`} (schema ${h.database.schemaVersion}, ${(h.database.sizeBytes / 1048576).toFixed(1)} MiB, ${h.database.path})`,
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
      case 'train':
        return await trainCommand(rest);
      case 'predict':
        return await predictCommand(rest);
      case 'evaluate':
        return await evaluateCommand(rest);
      case 'models':
        return await modelsCommand(rest);
      case 'model':
        return await modelCommand(rest);
      case 'promote':
        return await promoteCommand(rest);
      case 'rollback':
        return await rollbackCommand(rest);
      case 'gate':
        return await gateCommand(rest);
      case 'rules':
        return await rulesCommand(rest);
      case 'estimate':
        return await estimateCommand(rest);
      case 'runtime':
        if (rest[0] === 'info') return await runtimeInfoCommand(rest.slice(1));
        if (rest[0] === 'train') return await runtimeTrainCommand(rest.slice(1));
        return await runtimeCommand(rest);
      case 'try':
        return await tryCommand(rest);
      case 'templates':
        return await templatesCommand(rest);
      case 'render':
        return await renderCommand(rest);
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
