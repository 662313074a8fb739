// Every command of the extension. They are all registered at activation and,
// while the daemon is not connected, say why they cannot run instead of
// failing silently. Commands return what they created so tests and other
// extensions can use them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  ClustersAdd,
  ClustersDetectLocal,
  ClustersDisconnect,
  ClustersTest,
  ErrorCode,
  EvaluateSubmit,
  GatesRun,
  JobsCancel,
  JobsGet,
  JobsResubmit,
  JobsResubmitPlan,
  JobsSubmit,
  LogsDidAppend,
  LogsTail,
  LogsUnsubscribe,
  ModelsGet,
  ModelsLineage,
  ModelsPromote,
  ModelsRollback,
  ModelsTry,
  PredictSubmit,
  RuntimeEstimateRequest,
  RuntimeTrain,
  TemplatesList,
  TemplatesRender,
  TrainSubmit,
  type ClusterConfig,
  type GateResult,
  type JobInfo,
  type JobKind,
  type ModelVersionInfo,
  type TemplateInfo,
} from '../daemon/protocol';
import { RpcError } from '../daemon/rpc/connection';
import { DaemonUnavailable, errorMessage, type DaemonConnection } from './daemon';
import type { EditorEstimates } from './estimates';
import { estimateDetails, estimateSummary, findTimeDirective, formatClock, splitLines } from './model/estimates';
import { formatMetric } from './model/models';
import { validateClusterField, validateClusterName, validateModelName, validatePort, validateVariable, variablePrompt, variableValue } from './model/inputs';
import type { ClusterNode, ClustersTree, JobsNode, JobsTree, ModelsNode, ModelsTree } from './trees';
import { Cancelled, input, pick } from './ui';

export interface Services {
  daemon: DaemonConnection;
  log: vscode.LogOutputChannel;
  clusters: ClustersTree;
  jobs: JobsTree;
  models: ModelsTree;
  estimates?: EditorEstimates;
}

type Handler = (...args: unknown[]) => Promise<unknown>;

/** Titles as in package.json, for messages. */
const titles: Record<string, string> = {};

export function registerCommands(context: vscode.ExtensionContext, s: Services): void {
  for (const c of (context.extension.packageJSON.contributes?.commands ?? []) as { command: string; title: string }[]) titles[c.command] = c.title;
  const logs = new LogViewer(s);
  context.subscriptions.push(logs);

  /** Registers a command that needs the daemon: it explains why it cannot run when the daemon is down, and shows its errors. */
  const withDaemon = (id: string, fn: Handler) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        const why = s.daemon.unavailableReason();
        if (why) {
          void explainUnavailable(id, why);
          return undefined;
        }
        try {
          return await fn(...args);
        } catch (err) {
          if (err instanceof Cancelled) return undefined;
          if (err instanceof DaemonUnavailable) {
            void explainUnavailable(id, err.message);
            return undefined;
          }
          s.log.error(`${id}: ${errorMessage(err)}`);
          void vscode.window.showErrorMessage(`Slurm ML: ${titles[id] ?? id}: ${errorMessage(err)}`);
          return undefined;
        }
      }),
    );
  const plain = (id: string, fn: Handler) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  // ------------------------------------------------------------ daemon
  plain('slurmMl.showDaemonLog', async () => {
    s.log.show(true);
    if (fs.existsSync(s.daemon.paths.logFile)) {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(s.daemon.paths.logFile));
      await vscode.window.showTextDocument(doc, { preview: true });
    }
  });
  plain('slurmMl.restartDaemon', () => s.daemon.restart());
  plain('slurmMl.openWalkthrough', async () => {
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${context.extension.id}#slurmMl.start`, false);
  });
  plain('slurmMl.openSample', async () => {
    // An untitled copy: the shipped file stays as it is, and Submit uses the editor's text.
    const text = fs.readFileSync(path.join(context.extensionPath, 'media', 'walkthrough', 'hello.sbatch'), 'utf8');
    const doc = await vscode.workspace.openTextDocument({ content: text, language: 'sbatch' });
    await vscode.window.showTextDocument(doc);
    return doc;
  });
  plain('slurmMl.refresh', async () => {
    if (s.daemon.state.kind !== 'connected') await s.daemon.start();
    await Promise.all([s.clusters.reload(), s.jobs.reload(), s.models.reload()]);
  });
  plain('slurmMl.statusMenu', async () => {
    const items: (vscode.QuickPickItem & { command: string })[] = [
      { label: '$(output) Show Daemon Log', command: 'slurmMl.showDaemonLog' },
      { label: '$(debug-restart) Restart Daemon', command: 'slurmMl.restartDaemon' },
      { label: '$(play) Submit Current Script', command: 'slurmMl.submitCurrentScript' },
      { label: '$(list-flat) Show Job Log…', command: 'slurmMl.showJobLog' },
      { label: '$(add) Add Cluster…', command: 'slurmMl.addCluster' },
      { label: '$(beaker) Train Model…', command: 'slurmMl.trainModel' },
      { label: '$(sync) Retrain Runtime Model', command: 'slurmMl.retrainRuntimeModel' },
      { label: '$(dashboard) Open Dashboard', command: 'slurmMl.openDashboard' },
      { label: '$(layout-sidebar-left) Open Slurm ML View', command: 'workbench.view.extension.slurmMl' },
      { label: '$(book) Get Started', command: 'slurmMl.openWalkthrough' },
    ];
    const state = s.daemon.state;
    const chosen = await vscode.window.showQuickPick(items, { title: `Slurm ML — daemon ${state.kind}${'pid' in state ? ` (pid ${state.pid})` : ''}` });
    if (chosen) await vscode.commands.executeCommand(chosen.command);
  });
  withDaemon('slurmMl.estimateRuntime', async (arg) => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri) throw new Error('open an sbatch script in the editor first.');
    const doc = await vscode.workspace.openTextDocument(uri);
    const script = doc.getText();
    if (!script.trim()) throw new Error(`${path.basename(uri.fsPath)} is empty.`);
    const cluster = await pickCluster(s, 'Estimate Runtime');
    const name = path.basename(uri.fsPath) || 'script';
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Slurm ML: estimating ${name} on ${cluster}…` }, () =>
      s.daemon.request(RuntimeEstimateRequest, { cluster, script, sbatchArgs: [], expectedStart: true }, { timeoutMs: 180_000 }),
    );
    const details = estimateDetails(r);
    s.log.info(`estimate of ${name} on ${cluster}: ${details.join('; ')}`);
    const fix = r.warnings.find((w) => w.kind === 'timeout-risk' && w.suggestedLimit);
    const time = findTimeDirective(splitLines(script));
    const actions = [...(fix && time ? ['Use Suggested Limit'] : []), 'Submit'];
    const show = r.warnings.length || r.problems.some((p) => p.severity === 'error') ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void show(`Slurm ML: ${name} on ${cluster}: ${details.join(' · ')}`, ...actions).then(async (c) => {
      if (c === 'Submit') await vscode.commands.executeCommand('slurmMl.submitCurrentScript', uri);
      else if (c === 'Use Suggested Limit' && fix?.suggestedLimit && time) {
        const edit = new vscode.WorkspaceEdit();
        edit.replace(uri, new vscode.Range(time.line, time.start, time.line, time.end), fix.suggestedLimit);
        await vscode.workspace.applyEdit(edit);
      }
    });
    return r;
  });
  withDaemon('slurmMl.retrainRuntimeModel', async (arg) => {
    const cluster = typeof arg === 'string' ? arg : isClusterNode(arg) ? arg.cluster.name : await pickCluster(s, 'Retrain Runtime Model');
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Slurm ML: runtime model of ${cluster}` },
      (progress) => {
        progress.report({ message: 'reading the accounting, training on the older jobs, gating on the newest…' });
        // Training runs in a worker thread of the daemon: minutes on a large history.
        return s.daemon.request(RuntimeTrain, { cluster }, { timeoutMs: 30 * 60_000 });
      },
    );
    const m = r.metrics;
    const facts = [
      m.mae_minutes !== undefined ? `MAE ${formatMetric(m.mae_minutes)} min` : undefined,
      m.coverage !== undefined ? `80 % interval covers ${Math.round(m.coverage * 100)} %` : undefined,
      m.p90_under_rate !== undefined ? `${Math.round(m.p90_under_rate * 100)} % ran past p90` : undefined,
    ].filter(Boolean);
    const verdict = r.promoted ? 'now used for estimates' : `not used: the gate found it worse than v${r.gate?.baseline ?? '?'} in use`;
    s.log.info(`runtime-${cluster} v${r.version} from ${r.jobs} jobs: ${JSON.stringify(m)}; ${verdict}`);
    void (r.promoted ? vscode.window.showInformationMessage : vscode.window.showWarningMessage)(
      `Slurm ML: runtime-${cluster} v${r.version}, trained on ${r.jobs} finished jobs${facts.length ? ` (${facts.join(', ')})` : ''}: ${verdict}.`,
    );
    await s.models.reload();
    s.estimates?.refresh();
    return r;
  });
  withDaemon('slurmMl.showDaemonStatus', async () => {
    const { DaemonStatus } = await import('../daemon/protocol');
    const st = await s.daemon.request(DaemonStatus, {});
    void vscode.window.showInformationMessage(`Slurm ML daemon ${st.daemonVersion}: pid ${st.pid}, port ${st.port}, protocol ${st.protocolVersion}, ${st.connections} client(s).`);
    return st;
  });

  // ------------------------------------------------------------ clusters
  withDaemon('slurmMl.addCluster', async () => {
    const total = 3;
    // Asked at once, answered while the name is typed: is SLURM on the daemon's own machine?
    const here = s.daemon.request(ClustersDetectLocal, {}, { timeoutMs: 30_000 }).catch(() => undefined);
    const name = await input({ title: 'Add Cluster', prompt: 'A name for the cluster (used in commands and views)', step: 1, totalSteps: total, validate: validateClusterName });
    const local = await here;
    const how = await pick(
      [
        ...(local?.available
          ? [{ label: `This machine (${local.slurmVersion})`, description: `SLURM's commands run here on ${local.host} as ${local.user}: no SSH`, value: 'local' as const }]
          : []),
        { label: 'SSH alias', description: 'a Host entry of ~/.ssh/config (HostName, User, IdentityFile, ProxyJump… come from there)', value: 'alias' as const },
        { label: 'Host, user and key', description: 'give the login node, user and private key', value: 'host' as const },
      ],
      { title: 'Add Cluster (2/3): how to reach it' },
    );
    let config: ClusterConfig;
    if (how.value === 'local') {
      config = { name, kind: 'local' };
    } else if (how.value === 'alias') {
      const sshAlias = await input({ title: 'Add Cluster', prompt: 'The Host alias in ~/.ssh/config', step: 3, totalSteps: total, validate: (t) => validateClusterField('sshAlias', t) });
      config = { name, sshAlias };
    } else {
      const host = await input({ title: 'Add Cluster: login node', prompt: 'Host name or IP address of the login node', step: 3, totalSteps: 6, validate: (t) => validateClusterField('host', t) });
      const port = await input({ title: 'Add Cluster: port', prompt: 'SSH port', value: '22', step: 4, totalSteps: 6, validate: validatePort });
      const user = await input({ title: 'Add Cluster: user', prompt: 'Your login name on the cluster', value: process.env.USER ?? '', step: 5, totalSteps: 6, validate: (t) => validateClusterField('user', t) });
      const defKey = path.join(process.env.HOME ?? '/', '.ssh', 'id_ed25519');
      const identityFile = await input({
        title: 'Add Cluster: private key',
        prompt: 'Absolute path of the private key (empty: use the ssh agent / default keys)',
        value: fs.existsSync(defKey) ? defKey : '',
        step: 6,
        totalSteps: 6,
        validate: (t) => (t === '' ? undefined : validateClusterField('identityFile', t)),
      });
      config = { name, host, user, ...(port ? { port: Number(port) } : {}), ...(identityFile ? { identityFile } : {}) };
    }
    const added = await s.daemon.request(ClustersAdd, config);
    await s.clusters.reload();
    const choice = await vscode.window.showInformationMessage(`Slurm ML: cluster ${added.name} added. Test the connection now?`, 'Test Connection');
    if (choice === 'Test Connection') await vscode.commands.executeCommand('slurmMl.testCluster', added.name);
    return added;
  });

  withDaemon('slurmMl.testCluster', async (arg) => {
    const name = typeof arg === 'string' ? arg : isClusterNode(arg) ? arg.cluster.name : await pickCluster(s, 'Test Connection');
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Slurm ML: connecting to ${name}…` }, () =>
      s.daemon.request(ClustersTest, { name }, { timeoutMs: 180_000 }),
    );
    void vscode.window.showInformationMessage(`Slurm ML: ${name} answers as ${r.remoteUser} in ${Math.round(r.latencyMs)} ms${r.slurmVersion ? `, SLURM ${r.slurmVersion}` : ''}.`);
    return r;
  });

  withDaemon('slurmMl.connectCluster', async (arg) => {
    const name = typeof arg === 'string' ? arg : isClusterNode(arg) ? arg.cluster.name : await pickCluster(s, 'Connect');
    // Connecting is what a test does first; login prompts (host key, password, code) appear as they come.
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Slurm ML: connecting to ${name}…` }, () =>
      s.daemon.request(ClustersTest, { name }, { timeoutMs: 180_000 }),
    );
    await s.clusters.reload();
    void vscode.window.setStatusBarMessage(`Slurm ML: connected to ${name} as ${r.remoteUser}`, 5000);
    return r;
  });

  withDaemon('slurmMl.disconnectCluster', async (arg) => {
    const name = typeof arg === 'string' ? arg : isClusterNode(arg) ? arg.cluster.name : await pickCluster(s, 'Disconnect');
    const r = await s.daemon.request(ClustersDisconnect, { name });
    await s.clusters.reload();
    const active = s.jobs.active().filter((j) => j.cluster === name).length;
    void vscode.window.showInformationMessage(
      `Slurm ML: ${r.wasConnected ? 'disconnected from' : 'was not connected to'} ${name}.${active ? ` ${active} active job(s) are still followed: the next poll connects again.` : ''}`,
    );
    return r;
  });

  // ------------------------------------------------------------ jobs
  withDaemon('slurmMl.submitCurrentScript', async (arg) => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri) throw new Error('open an sbatch script in the editor first.');
    const doc = await vscode.workspace.openTextDocument(uri);
    const script = doc.getText();
    if (!script.trim()) throw new Error(`${path.basename(uri.fsPath)} is empty.`);
    const cluster = await pickCluster(s, 'Submit Current Script');
    const scriptName = path.basename(uri.fsPath) || 'job.sbatch';
    const job = await submitting(`${scriptName} to ${cluster}`, () => s.daemon.request(JobsSubmit, { cluster, script, scriptName }, { timeoutMs: 180_000 }));
    s.jobs.update(job);
    s.log.info(`submitted ${scriptName} to ${cluster}: job ${job.id} (SLURM ${job.slurmJobId ?? '?'})`);
    void vscode.window.showInformationMessage(`Slurm ML: submitted ${scriptName} to ${cluster} as job ${job.slurmJobId ?? job.id}.`, 'Show Log').then((c) => {
      if (c) void vscode.commands.executeCommand('slurmMl.showJobLog', job.id);
    });
    return job;
  });

  withDaemon('slurmMl.cancelJob', async (arg) => {
    const task = isJobsNode(arg) && arg.kind === 'task' ? arg : undefined;
    const job = task ? task.job : await jobFrom(s, arg, 'Cancel Job', (j) => !j.terminal);
    const r = await s.daemon.request(JobsCancel, { ref: job.id, ...(task ? { tasks: String(task.task.taskId) } : {}) }, { timeoutMs: 120_000 });
    s.jobs.update(r);
    void vscode.window.showInformationMessage(`Slurm ML: cancel sent for ${job.name}${task ? ` task ${task.task.taskId}` : ''} (#${job.slurmJobId ?? '?'}).`);
    return r;
  });

  withDaemon('slurmMl.showJobLog', async (arg, stream) => {
    const job = await jobFrom(s, arg, 'Show Job Log', () => true);
    return logs.show(job, stream === 'stderr' ? 'stderr' : 'stdout');
  });
  withDaemon('slurmMl.showJobStderr', async (arg) => {
    const job = await jobFrom(s, arg, 'Show Job Error Log', () => true);
    return logs.show(job, 'stderr');
  });

  withDaemon('slurmMl.resubmitJob', async (arg) => {
    const job = await jobFrom(s, arg, 'Resubmit Job', (j) => j.terminal);
    const plan = await s.daemon.request(JobsResubmitPlan, { ref: job.id });
    const planned = [plan.time && `time ${plan.time}`, plan.mem && `memory ${plan.mem}`].filter(Boolean).join(', ');
    const items = [
      ...(planned ? [{ label: `$(arrow-up) Resubmit with ${planned}`, detail: plan.reason, value: 'plan' as const }] : []),
      { label: '$(debug-restart) Resubmit with the same options', detail: planned ? undefined : plan.reason, value: 'same' as const },
      { label: '$(edit) Resubmit with other time / memory…', value: 'custom' as const },
    ];
    const choice = await pick(items, { title: `Resubmit ${job.name} (#${job.slurmJobId ?? '?'}, ${job.state})` });
    let params: { ref: string; time?: string; mem?: string } = { ref: job.id };
    if (choice.value === 'plan') params = { ...params, ...(plan.time ? { time: plan.time } : {}), ...(plan.mem ? { mem: plan.mem } : {}) };
    if (choice.value === 'custom') {
      const time = await input({ title: 'Resubmit: time limit', prompt: 'MM, HH:MM:SS or D-HH:MM:SS (empty: unchanged)', value: plan.time ?? '', validate: (t) => (t === '' || /^(\d+-\d{1,2}(:\d{1,2}){0,2}|\d+(:\d{1,2}){0,2})$/.test(t) ? undefined : 'a SLURM time: MM, HH:MM:SS or D-HH:MM:SS') });
      const mem = await input({ title: 'Resubmit: memory', prompt: 'like 4000M or 16G (empty: unchanged)', value: plan.mem ?? '', validate: (t) => (t === '' || /^\d+[KMGT]?$/.test(t) ? undefined : 'memory like 4000M or 16G') });
      params = { ...params, ...(time ? { time } : {}), ...(mem ? { mem } : {}) };
    }
    const r = await submitting(`${job.name} again`, () => s.daemon.request(JobsResubmit, params, { timeoutMs: 180_000 }));
    s.jobs.update(r);
    void vscode.window.showInformationMessage(`Slurm ML: resubmitted ${job.name} as job ${r.slurmJobId ?? r.id}.`);
    return r;
  });

  withDaemon('slurmMl.openSubmittedScript', async (arg) => {
    const job = await jobFrom(s, arg, 'Open Submitted Script', () => true);
    const d = await s.daemon.request(JobsGet, { ref: job.id });
    const doc = await vscode.workspace.openTextDocument({ content: d.script, language: 'sbatch' });
    await vscode.window.showTextDocument(doc, { preview: true });
    return doc;
  });

  withDaemon('slurmMl.copyOutputDirectory', async (arg) => {
    const job = await jobFrom(s, arg, 'Copy Output Directory', () => true);
    const dir = job.outputDir ?? job.runDir;
    await vscode.env.clipboard.writeText(dir);
    void vscode.window.setStatusBarMessage(`Slurm ML: copied ${dir}`, 4000);
    return dir;
  });

  // ------------------------------------------------------------ ML workflows
  withDaemon('slurmMl.trainModel', async () => {
    const model = await input({ title: 'Train Model: model name', prompt: 'The model this training creates a version of', validate: validateModelName, value: s.models.list()[0]?.name ?? '' });
    const w = await collectWorkflow(s, 'train', 'Train Model');
    await confirmWorkflow(s, w, `Train ${model}`);
    const job = await submitting(`the training of ${model} to ${w.cluster}`, () => s.daemon.request(TrainSubmit, { ...w, model }, { timeoutMs: 180_000 }));
    submitted(s, job, `training ${model}`);
    return job;
  });
  withDaemon('slurmMl.runPrediction', async (arg) => {
    const ref = await modelRefFrom(s, arg, 'Run Prediction');
    const inputPath = await input({ title: `Run Prediction with ${ref}: input`, prompt: 'Path of the input on the cluster', validate: (t) => (t.trim() ? undefined : 'give the input path on the cluster') });
    const w = await collectWorkflow(s, 'predict', `Run Prediction with ${ref}`);
    await confirmWorkflow(s, w, `Predict with ${ref}`);
    const job = await submitting(`the prediction with ${ref} to ${w.cluster}`, () => s.daemon.request(PredictSubmit, { ...w, model: ref, input: inputPath }, { timeoutMs: 180_000 }));
    submitted(s, job, `prediction with ${ref}`);
    return job;
  });
  withDaemon('slurmMl.evaluateModel', async (arg) => {
    const ref = await modelRefFrom(s, arg, 'Evaluate Model Version');
    const dataset = await input({ title: `Evaluate ${ref}: dataset`, prompt: 'Path of the evaluation dataset on the cluster', validate: (t) => (t.trim() ? undefined : 'give the dataset path on the cluster') });
    const w = await collectWorkflow(s, 'evaluate', `Evaluate ${ref}`);
    await confirmWorkflow(s, w, `Evaluate ${ref}`);
    const job = await submitting(`the evaluation of ${ref} to ${w.cluster}`, () => s.daemon.request(EvaluateSubmit, { ...w, model: ref, dataset }, { timeoutMs: 180_000 }));
    submitted(s, job, `evaluation of ${ref}`);
    return job;
  });

  withDaemon('slurmMl.promote', async (arg) => {
    const v = await versionFrom(s, arg, 'Promote');
    const alias = await input({ title: `Promote ${v.model} v${v.version}: alias`, value: 'prod', validate: (t) => (/^[a-z][a-z0-9_-]{0,31}$/.test(t) ? undefined : 'an alias is a lower-case word') });
    try {
      const r = await s.daemon.request(ModelsPromote, { name: v.model, version: v.version, alias }, { timeoutMs: 60_000 });
      void vscode.window.showInformationMessage(`Slurm ML: ${v.model}@${alias} → v${r.toVersion}${r.fromVersion ? ` (was v${r.fromVersion})` : ''}${r.gate ? `; gate passed against v${r.gate.baseline}` : ''}.`);
      return r;
    } catch (err) {
      if (!(err instanceof RpcError) || err.code !== ErrorCode.Conflict) throw err;
      const c = await vscode.window.showWarningMessage(`Slurm ML: ${err.message}`, { modal: true, detail: 'Promoting anyway is recorded in the alias history as forced, with your reason.' }, 'Promote Anyway…');
      if (c !== 'Promote Anyway…') return undefined;
      const reason = await input({ title: `Force ${v.model}@${alias} → v${v.version}: reason`, prompt: 'Why the gate may be overridden (kept in the history)', validate: (t) => (t.trim() ? undefined : 'a reason is required') });
      const r = await s.daemon.request(ModelsPromote, { name: v.model, version: v.version, alias, force: true, reason }, { timeoutMs: 60_000 });
      void vscode.window.showInformationMessage(`Slurm ML: ${v.model}@${alias} → v${r.toVersion} (forced).`);
      return r;
    }
  });

  withDaemon('slurmMl.rollback', async (arg) => {
    const name = isModelsNode(arg) ? (arg.kind === 'model' ? arg.model.name : arg.kind === 'version' ? arg.version.model : undefined) : undefined;
    const model = name ?? (await pick(s.models.list().map((m) => ({ label: m.name, description: Object.entries(m.aliases).map(([a, x]) => `${a}→v${x}`).join(' ') })), { title: 'Rollback: model' })).label;
    const alias = await input({ title: `Rollback ${model}: alias`, value: 'prod', validate: (t) => (t.trim() ? undefined : 'an alias') });
    const ok = await vscode.window.showWarningMessage(`Give ${model}@${alias} back to the version that held it before its last move?`, { modal: true }, 'Roll Back');
    if (ok !== 'Roll Back') return undefined;
    const r = await s.daemon.request(ModelsRollback, { name: model, alias });
    void vscode.window.showInformationMessage(`Slurm ML: ${model}@${alias} → v${r.toVersion}${r.fromVersion ? ` (was v${r.fromVersion})` : ''}.`);
    return r;
  });

  withDaemon('slurmMl.runGate', async (arg) => {
    const v = await versionFrom(s, arg, 'Run Gate');
    const r = await s.daemon.request(GatesRun, { name: v.model, candidate: v.version }, { timeoutMs: 60_000 });
    s.log.info(gateReport(r));
    const c = await (r.pass ? vscode.window.showInformationMessage : vscode.window.showWarningMessage)(
      `Slurm ML: gate ${r.pass ? 'passed' : 'FAILED'}: ${r.model} v${r.candidate} against v${r.baseline}.`,
      'Show Details',
    );
    if (c) await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ content: gateReport(r), language: 'markdown' }), { preview: true });
    return r;
  });

  withDaemon('slurmMl.showLineage', async (arg) => {
    const v = await versionFrom(s, arg, 'Show Lineage');
    const l = await s.daemon.request(ModelsLineage, { ref: `${v.model}@v${v.version}` });
    const job = (j: JobInfo) => `${j.name} · ${j.cluster} #${j.slurmJobId ?? '?'} · ${j.state} · ${j.submitTime ?? j.createdAt}`;
    const text = [
      `# ${v.model} v${v.version}${v.aliases.length ? ` [${v.aliases.join(', ')}]` : ''}`,
      '',
      `- cluster: ${v.cluster}; artifact: \`${v.artifactPath}\``,
      `- git commit: ${v.gitCommit ?? '—'}; tags: ${Object.entries(v.tags).map(([k, x]) => `${k}=${x}`).join(', ') || '—'}`,
      `- metrics: ${Object.entries(v.metrics).map(([k, x]) => `${k} ${formatMetric(x)}`).join(' · ') || '—'}`,
      '',
      '## Trained by',
      l.trainingJob ? `- ${job(l.trainingJob)}` : '- (not a training job of this daemon)',
      '',
      `## Evaluations (${l.evaluations.length})`,
      ...l.evaluations.map((j) => `- ${job(j)}`),
      '',
      `## Predictions (${l.predictions.length})`,
      ...l.predictions.map((j) => `- ${job(j)}`),
    ].join('\n');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ content: text, language: 'markdown' }), { preview: true });
    return l;
  });

  withDaemon('slurmMl.tryLocally', async (arg) => {
    const v = await versionFrom(s, arg, 'Try Locally');
    const files = await vscode.window.showOpenDialog({ title: `Input for ${v.model} v${v.version} (JSON: {"input": [[...]]} or a nested array)`, filters: { JSON: ['json'] }, canSelectMany: false });
    if (!files?.[0]) return undefined;
    const inputJson = JSON.parse(fs.readFileSync(files[0].fsPath, 'utf8')) as unknown;
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Slurm ML: running ${v.model} v${v.version} locally…` }, () =>
      s.daemon.request(ModelsTry, { ref: `${v.model}@v${v.version}`, input: inputJson }, { timeoutMs: 300_000 }),
    );
    const doc = await vscode.workspace.openTextDocument({ content: JSON.stringify(r, null, 2), language: 'json' });
    await vscode.window.showTextDocument(doc, { preview: true });
    return r;
  });
}

// ------------------------------------------------------------------ helpers

async function explainUnavailable(id: string, why: string): Promise<void> {
  const c = await vscode.window.showWarningMessage(`Slurm ML: cannot run "${titles[id] ?? id}": ${why}`, 'Restart Daemon', 'Show Daemon Log');
  if (c === 'Restart Daemon') await vscode.commands.executeCommand('slurmMl.restartDaemon');
  else if (c === 'Show Daemon Log') await vscode.commands.executeCommand('slurmMl.showDaemonLog');
}

function isJobsNode(x: unknown): x is Extract<JobsNode, { kind: 'job' | 'task' }> {
  return typeof x === 'object' && x !== null && 'kind' in x && ((x as JobsNode).kind === 'job' || (x as JobsNode).kind === 'task');
}
function isClusterNode(x: unknown): x is Extract<ClusterNode, { kind: 'cluster' }> {
  return typeof x === 'object' && x !== null && (x as ClusterNode).kind === 'cluster' && typeof (x as ClusterNode).cluster === 'object';
}
function isModelsNode(x: unknown): x is ModelsNode {
  return typeof x === 'object' && x !== null && ((x as ModelsNode).kind === 'model' || (x as ModelsNode).kind === 'version');
}

/** The default cluster setting, the only cluster, or the user's pick. */
async function pickCluster(s: Services, title: string): Promise<string> {
  const names = s.clusters.list().map((c) => c.name);
  const def = vscode.workspace.getConfiguration('slurmMl').get<string>('defaultCluster');
  if (def && names.includes(def)) return def;
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new Error('no cluster is registered yet: run "Slurm ML: Add Cluster…" first.');
  return (await pick(s.clusters.list().map((c) => ({ label: c.name, description: c.connection.status })), { title: `${title}: cluster` })).label;
}

/** A job from a tree node, a job id/ref string, or the user's pick among the known jobs. */
async function jobFrom(s: Services, arg: unknown, title: string, filter: (j: JobInfo) => boolean): Promise<JobInfo> {
  if (isJobsNode(arg)) return arg.job;
  if (typeof arg === 'string') return s.jobs.get(arg) ?? (await s.daemon.request(JobsGet, { ref: arg }));
  const candidates = s.jobs
    .all()
    .filter(filter)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (!candidates.length) throw new Error('no job to choose from.');
  const chosen = await pick(
    candidates.map((j) => ({ label: j.name, description: `${j.cluster} #${j.slurmJobId ?? '?'} · ${j.state}`, job: j })),
    { title: `${title}: job` },
  );
  return chosen.job;
}

async function versionFrom(s: Services, arg: unknown, title: string): Promise<ModelVersionInfo> {
  if (isModelsNode(arg) && arg.kind === 'version') return arg.version;
  const model = isModelsNode(arg) && arg.kind === 'model' ? arg.model.name : (await pick(s.models.list().map((m) => ({ label: m.name })), { title: `${title}: model` })).label;
  const r = await s.daemon.request(ModelsGet, { name: model, limit: 200 });
  if (!r.versions.length) throw new Error(`${model} has no versions yet.`);
  return (
    await pick(
      r.versions.map((v) => ({ label: `v${v.version}`, description: v.aliases.join(', '), detail: Object.entries(v.evaluation ?? v.metrics).map(([k, x]) => `${k} ${formatMetric(x)}`).join(' · '), v })),
      { title: `${title}: ${model} version` },
    )
  ).v;
}

async function modelRefFrom(s: Services, arg: unknown, title: string): Promise<string> {
  if (isModelsNode(arg) && arg.kind === 'version') return `${arg.version.model}@v${arg.version.version}`;
  const model = isModelsNode(arg) && arg.kind === 'model' ? arg.model : (await pick(s.models.list().map((m) => ({ label: m.name, m })), { title: `${title}: model` })).m;
  const refs = [
    ...Object.entries(model.aliases).map(([a, v]) => ({ label: `${model.name}@${a}`, description: `v${v}` })),
    ...(model.latest ? [{ label: `${model.name}@v${model.latest}`, description: 'latest' }] : []),
  ];
  if (!refs.length) throw new Error(`${model.name} has no versions yet.`);
  return (await pick(refs, { title: `${title}: version` })).label;
}

interface Workflow {
  cluster: string;
  workspace: string;
  template: string;
  values: Record<string, string | number | boolean>;
  entrypoint: string;
  config?: string;
}

/**
 * The steps every workflow shares: workspace, cluster, template, entrypoint,
 * config, then one input per template variable with the template's own checks
 * shown inline.
 */
async function collectWorkflow(s: Services, kind: JobKind, title: string): Promise<Workflow> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.length) throw new Error('open the project folder first: the entrypoint and config are read from the workspace.');
  const folder = folders.length === 1 ? folders[0]! : (await pick(folders.map((f) => ({ label: f.name, description: f.uri.fsPath, f })), { title: `${title}: workspace` })).f;
  const workspace = folder.uri.fsPath;
  const cluster = await pickCluster(s, title);
  const { templates } = await s.daemon.request(TemplatesList, { workspace });
  const ofKind = templates.filter((t) => t.kind === kind);
  if (!ofKind.length) throw new Error(`no ${kind} template (builtin or in .slurm-ml/templates).`);
  const template: TemplateInfo =
    ofKind.length === 1 ? ofKind[0]! : (await pick(ofKind.map((t) => ({ label: t.name, description: t.source, detail: t.description, t })), { title: `${title}: template` })).t;
  const exclude = '**/{node_modules,.git,.venv,venv,__pycache__}/**';
  const rel = (u: vscode.Uri) => path.relative(workspace, u.fsPath);
  const py = (await vscode.workspace.findFiles(new vscode.RelativePattern(folder, '**/*.py'), exclude, 500)).map(rel).sort();
  const entrypoint = py.length
    ? (await pick(py.map((p) => ({ label: p })), { title: `${title}: entrypoint (Python script)` })).label
    : await input({ title: `${title}: entrypoint`, prompt: 'Python script, relative to the workspace', validate: (t) => (fs.existsSync(path.resolve(workspace, t)) ? undefined : 'no such file in the workspace') });
  const json = (await vscode.workspace.findFiles(new vscode.RelativePattern(folder, '**/*.json'), exclude, 500)).map(rel).sort();
  const cfg = await pick([{ label: '(no config)', value: undefined }, ...json.map((p) => ({ label: p, value: p as string | undefined }))], { title: `${title}: config (JSON)` });
  const values: Record<string, string | number | boolean> = {};
  const vars = template.variables;
  for (const [i, v] of vars.entries()) {
    const text = await input({
      title: `${title}: ${v.name}`,
      prompt: variablePrompt(v),
      value: v.default === null ? '' : String(v.default),
      step: i + 1,
      totalSteps: vars.length,
      validate: (t) => validateVariable(v, t),
    });
    const value = variableValue(v, text);
    if (value !== undefined) values[v.name] = value;
  }
  return { cluster, workspace, template: template.name, values, entrypoint, ...(cfg.value ? { config: cfg.value } : {}) };
}

/**
 * The last step before a workflow is submitted: the template rendered with
 * the chosen values, its runtime estimate and expected start (sbatch
 * --test-only) shown on the Submit item. Escape cancels; an estimate that
 * cannot be made does not block the submit.
 */
async function confirmWorkflow(s: Services, w: Workflow, title: string): Promise<void> {
  const qp = vscode.window.createQuickPick<vscode.QuickPickItem & { value: 'submit' | 'cancel' }>();
  qp.title = `${title}: submit to ${w.cluster}?`;
  qp.ignoreFocusOut = true;
  qp.busy = true;
  qp.placeholder = 'estimating the runtime and the expected start…';
  const submitItem = (detail: string) => ({ label: '$(play) Submit', description: `${w.template} template on ${w.cluster}`, detail, value: 'submit' as const });
  qp.items = [submitItem('estimating…'), { label: '$(close) Cancel', value: 'cancel' }];
  const estimate = (async () => {
    const { script } = await s.daemon.request(TemplatesRender, { template: w.template, workspace: w.workspace, values: w.values });
    return s.daemon.request(RuntimeEstimateRequest, { cluster: w.cluster, script, sbatchArgs: [], expectedStart: true }, { timeoutMs: 60_000 });
  })();
  const chosen = new Promise<'submit' | 'cancel'>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0]?.value ?? 'cancel'));
    qp.onDidHide(() => resolve('cancel'));
  });
  qp.show();
  estimate.then(
    (e) => {
      const start = e.expectedStart ? ` · starts ≈ ${formatClock(e.expectedStart)}` : '';
      const warn = e.warnings.map((x) => x.message).join('; ');
      qp.items = [submitItem(`${estimateSummary(e)}${start}${warn ? ` · ⚠ ${warn}` : ''}`), { label: '$(close) Cancel', value: 'cancel' }];
      qp.busy = false;
      qp.placeholder = 'Enter submits';
      s.log.info(`${title}: ${estimateDetails(e).join('; ')}`);
    },
    (err) => {
      qp.items = [submitItem(`no estimate: ${errorMessage(err)}`), { label: '$(close) Cancel', value: 'cancel' }];
      qp.busy = false;
    },
  );
  const c = await chosen;
  qp.dispose();
  if (c !== 'submit') throw new Cancelled();
}

/** Submitting uploads files over SFTP and runs sbatch: seconds on a slow link, so it shows progress. */
function submitting<T>(what: string, run: () => Promise<T>): Promise<T> {
  return Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Slurm ML: submitting ${what}…` }, run));
}

function submitted(s: Services, job: JobInfo, what: string): void {
  s.jobs.update(job);
  s.log.info(`submitted ${what}: job ${job.id} (SLURM ${job.slurmJobId ?? '?'})`);
  void vscode.window.showInformationMessage(`Slurm ML: submitted ${what} on ${job.cluster} as job ${job.slurmJobId ?? job.id}.`, 'Show Log').then((c) => {
    if (c) void vscode.commands.executeCommand('slurmMl.showJobLog', job.id);
  });
}

function gateReport(r: GateResult): string {
  const n = (x: number | null) => (x === null ? '—' : formatMetric(x));
  return [
    `# Gate: ${r.model} v${r.candidate} against v${r.baseline}: ${r.pass ? 'PASS' : 'FAIL'}`,
    '',
    '| metric | better | candidate | baseline | limit | result |',
    '|---|---|---|---|---|---|',
    ...r.rules.map((x) => `| ${x.metric} | ${x.direction} | ${n(x.candidate)} | ${n(x.baseline)} | ${n(x.limit)} | ${x.pass ? 'pass' : `FAIL: ${x.detail}`} |`),
    '',
    `at ${r.at}`,
  ].join('\n');
}

/** Job logs followed into one output channel per job and stream. */
class LogViewer implements vscode.Disposable {
  private readonly channels = new Map<string, { channel: vscode.OutputChannel; subscriptionId: string | null }>();
  private readonly bySubscription = new Map<string, vscode.OutputChannel>();
  /** Appends that arrived before logs/tail answered with their subscription id. */
  private readonly early = new Map<string, string[]>();
  private readonly sub: vscode.Disposable;

  constructor(private readonly s: Services) {
    this.sub = s.daemon.onNotification(LogsDidAppend, (p) => {
      const ch = this.bySubscription.get(p.subscriptionId);
      if (!ch) {
        const q = this.early.get(p.subscriptionId) ?? [];
        q.push(p.data);
        this.early.set(p.subscriptionId, q.slice(-100));
        return;
      }
      if (p.data) ch.append(p.data);
      if (p.done) {
        ch.appendLine('\n[slurm-ml] the job ended; its log is read to the end.');
        this.bySubscription.delete(p.subscriptionId);
      }
    });
  }

  async show(job: JobInfo, stream: 'stdout' | 'stderr'): Promise<vscode.OutputChannel> {
    const key = `${job.id}:${stream}`;
    let entry = this.channels.get(key);
    if (entry?.subscriptionId) {
      this.bySubscription.delete(entry.subscriptionId);
      await this.s.daemon.request(LogsUnsubscribe, { subscriptionId: entry.subscriptionId }).catch(() => undefined);
    }
    if (!entry) {
      entry = { channel: vscode.window.createOutputChannel(`Slurm ML: ${job.name} #${job.slurmJobId ?? job.id.slice(0, 8)}${stream === 'stderr' ? ' (stderr)' : ''}`), subscriptionId: null };
      this.channels.set(key, entry);
    }
    const ch = entry.channel;
    ch.clear();
    ch.show(true);
    const r = await this.s.daemon.request(LogsTail, { ref: job.id, stream, offset: -65536, follow: !job.terminal }, { timeoutMs: 60_000 });
    ch.appendLine(`[slurm-ml] ${r.path}${r.offset > 0 ? ` (from byte ${r.offset})` : ''}`);
    ch.append(r.data);
    entry.subscriptionId = r.subscriptionId;
    if (r.subscriptionId) {
      this.bySubscription.set(r.subscriptionId, ch);
      for (const d of this.early.get(r.subscriptionId) ?? []) ch.append(d);
      this.early.delete(r.subscriptionId);
    }
    return ch;
  }

  dispose(): void {
    this.sub.dispose();
    for (const { channel, subscriptionId } of this.channels.values()) {
      if (subscriptionId) void this.s.daemon.request(LogsUnsubscribe, { subscriptionId }).catch(() => undefined);
      channel.dispose();
    }
  }
}
