// The extension in a real VS Code (code-server's extension host) against the
// real local cluster: it activates and starts its daemon, its views fill, a
// script submitted from the editor runs to COMPLETED, and Cancel cancels.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ClustersAdd, ClustersRemove, ClustersTest, ErrorCode, type JobInfo } from '../../../daemon/protocol';
import type { SlurmMlApi } from '../../../extension/main';
import type { JobsNode } from '../../../extension/trees';
import { activateWithTestCluster, clusterName, env, until } from './support';

const repo = path.resolve(__dirname, '../..');


describe('Slurm ML in VS Code', () => {
  let api: SlurmMlApi;

  before(async () => {
    api = await activateWithTestCluster();
  });

  // No daemon/shutdown here: the extension would start a new one. run.ts
  // stops the daemon by its pid once code-server is gone.

  it('registers every command and shows the cluster in the Clusters view', async () => {
    const all = await vscode.commands.getCommands(true);
    const manifest = (vscode.extensions.getExtension('slurm-ml.slurm-ml')!.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    assert.deepEqual(manifest.filter((c) => !all.includes(c)), [], 'every contributed command is registered');
    await vscode.commands.executeCommand('slurmMl.refresh');
    const nodes = await api.clusters.getChildren();
    const item = nodes.map((n) => api.clusters.getTreeItem(n)).find((i) => i.label === clusterName);
    assert.ok(item, `the Clusters view lists ${clusterName}`);
    assert.match(String(item.contextValue), /^cluster\./);
    // Expanding the cluster lists its partitions, as sinfo has them.
    const parts = await api.clusters.getChildren(nodes.find((n) => n.kind === 'cluster' && n.cluster.name === clusterName));
    const names = parts.map((n) => api.clusters.getTreeItem(n).label);
    for (const p of (env.SLURM_ML_TEST_PARTITIONS ?? 'debug long').split(/\s+/)) assert.ok(names.includes(p), `partition ${p} under the cluster (${names.join(', ')})`);
    const def = parts.map((n) => api.clusters.getTreeItem(n)).find((i) => i.label === (env.SLURM_ML_TEST_DEFAULT_PARTITION ?? 'debug'))!;
    assert.match(String(def.description), /^default · up · \d+\/\d+ nodes idle/);
  });

  it('submits the open sbatch script, shows the job in the Jobs view, and follows it to COMPLETED', async () => {
    const doc = await vscode.workspace.openTextDocument(path.join(repo, 'test/demo/hello.sbatch'));
    assert.equal(doc.languageId, 'sbatch', '*.sbatch files get the sbatch language');
    await vscode.window.showTextDocument(doc);
    const job = (await vscode.commands.executeCommand<JobInfo>('slurmMl.submitCurrentScript'))!;
    assert.ok(job?.slurmJobId, 'the command returns the submitted job with its SLURM id');
    assert.equal(job.cluster, clusterName);

    const roots = (await api.jobs.getChildren()) as JobsNode[];
    const clusterNode = roots.find((n) => n.kind === 'cluster' && n.cluster === clusterName);
    assert.ok(clusterNode, 'the Jobs view has the cluster');
    const groups = await api.jobs.getChildren(clusterNode);
    const jobsInGroups = (await Promise.all(groups.map((g) => api.jobs.getChildren(g)))).flat();
    assert.ok(jobsInGroups.some((n) => n.kind === 'job' && n.job.id === job.id), 'the new job is in the view');

    // Only notifications move it on: the view's store is what the daemon pushed.
    const done = await until('the job to end', () => {
      const j = api.jobs.get(job.id);
      return j?.terminal ? j : undefined;
    });
    assert.equal(done.state, 'COMPLETED');
    const item = api.jobs.getTreeItem({ kind: 'job', job: done });
    assert.match(String(item.description), new RegExp(`^#${done.slurmJobId} · COMPLETED`));
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'pass');
    assert.equal(item.contextValue, 'job.ended.ok');

    const channel = await vscode.commands.executeCommand<vscode.OutputChannel>('slurmMl.showJobLog', done.id);
    assert.ok(channel, 'Show Log opens an output channel');
    const dir = await vscode.commands.executeCommand<string>('slurmMl.copyOutputDirectory', { kind: 'job', job: done });
    assert.equal(await vscode.env.clipboard.readText(), dir);
  });

  it('cancels a running job from its tree item', async () => {
    const tmp = fs.mkdtempSync(path.join(env.SLURM_ML_VSCODE_TMP ?? '/tmp', 'sleep-'));
    const file = path.join(tmp, 'sleepy.sbatch');
    fs.writeFileSync(file, '#!/bin/bash\n#SBATCH --job-name=sleepy\n#SBATCH --time=5\nsleep 300\n');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(file));
    const job = (await vscode.commands.executeCommand<JobInfo>('slurmMl.submitCurrentScript'))!;
    assert.ok(job?.slurmJobId);
    await until('the job to start', () => api.jobs.get(job.id)?.state === 'RUNNING', 60_000);
    // Its elapsed time is shown against the runtime predicted for its script.
    await until('the predicted runtime in its description', () => / · RUNNING · \S+ of ≈\S+/.test(String(api.jobs.getTreeItem({ kind: 'job', job: api.jobs.get(job.id)! }).description)), 30_000);
    await vscode.commands.executeCommand('slurmMl.cancelJob', { kind: 'job', job: api.jobs.get(job.id) });
    const ended = await until('the job to be cancelled', () => {
      const j = api.jobs.get(job.id);
      return j?.terminal ? j : undefined;
    }, 90_000);
    assert.equal(ended.state, 'CANCELLED');
  });

  it('shows the parser\'s problems as diagnostics and the estimate as a CodeLens on sbatch scripts', async () => {
    const config = vscode.workspace.getConfiguration('slurmMl');
    await config.update('defaultCluster', clusterName, vscode.ConfigurationTarget.Global);
    try {
      const tmp = fs.mkdtempSync(path.join(env.SLURM_ML_VSCODE_TMP ?? '/tmp', 'estimate-'));
      const bad = path.join(tmp, 'bad.sbatch');
      fs.writeFileSync(bad, '#!/bin/bash\n#SBATCH --job-name=bad\n#SBATCH --time=soon\necho hi\n');
      const badDoc = await vscode.workspace.openTextDocument(bad);
      await vscode.window.showTextDocument(badDoc);
      const diags = await until('a diagnostic on the --time line', () => {
        const d = vscode.languages.getDiagnostics(badDoc.uri).filter((x) => x.range.start.line === 2);
        return d.length ? d : undefined;
      }, 60_000);
      assert.equal(diags[0]!.severity, vscode.DiagnosticSeverity.Error);
      assert.equal(badDoc.getText(diags[0]!.range), 'soon');

      const good = path.join(tmp, 'good.sbatch');
      fs.writeFileSync(good, '#!/bin/bash\n#SBATCH --job-name=good\n#SBATCH --time=10\necho hi\n');
      const goodDoc = await vscode.workspace.openTextDocument(good);
      await vscode.window.showTextDocument(goodDoc);
      const lens = await until('a CodeLens with the estimate', async () => {
        const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', goodDoc.uri)) ?? [];
        return lenses.find((l) => /^(≈|no estimate)/.test(l.command?.title ?? ''));
      }, 60_000);
      assert.equal(lens.command!.command, 'slurmMl.submitCurrentScript');
      assert.match(lens.command!.title, /· Submit$/);
      assert.deepEqual(vscode.languages.getDiagnostics(goodDoc.uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error), []);

      const e = await vscode.commands.executeCommand<{ timeLimitSeconds: number | null; problems: unknown[] }>('slurmMl.estimateRuntime');
      assert.ok(e, 'Estimate Runtime returns the estimate');
      assert.equal(e.timeLimitSeconds, 600);
      assert.deepEqual(e.problems, []);
    } finally {
      await config.update('defaultCluster', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('a script with Windows (CRLF) line endings gets an Information diagnostic saying submit converts them, and is submitted converted', async () => {
    const config = vscode.workspace.getConfiguration('slurmMl');
    await config.update('defaultCluster', clusterName, vscode.ConfigurationTarget.Global);
    try {
      const tmp = fs.mkdtempSync(path.join(env.SLURM_ML_VSCODE_TMP ?? '/tmp', 'crlf-'));
      const file = path.join(tmp, 'windows.sbatch');
      fs.writeFileSync(file, '#!/bin/bash\r\n#SBATCH --job-name=crlf-editor\r\n#SBATCH --time=2\r\necho "from the editor"\r\n');
      const doc = await vscode.workspace.openTextDocument(file);
      assert.equal(doc.eol, vscode.EndOfLine.CRLF, 'VS Code keeps the file\'s CRLF');
      await vscode.window.showTextDocument(doc);
      const notice = await until('the line endings diagnostic', () => vscode.languages.getDiagnostics(doc.uri).find((d) => d.code === 'crlf-converted'), 60_000);
      assert.equal(notice.severity, vscode.DiagnosticSeverity.Information);
      assert.match(notice.message, /Windows line endings \(CRLF\) on 4 lines: sbatch refuses such scripts \("DOS line breaks"\), so slurm-ml converts them/);
      assert.equal(notice.range.start.line, 0);
      assert.deepEqual(vscode.languages.getDiagnostics(doc.uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error), [], 'no "DOS line breaks" error');
      const job = (await vscode.commands.executeCommand<JobInfo>('slurmMl.submitCurrentScript'))!;
      assert.ok(job?.slurmJobId, 'sbatch accepted it');
      const done = await until('the job to end', () => {
        const j = api.jobs.get(job.id);
        return j?.terminal ? j : undefined;
      }, 120_000);
      assert.equal(done.state, 'COMPLETED');
      assert.equal(done.name, 'crlf-editor');
    } finally {
      await config.update('defaultCluster', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('starts a new daemon when its daemon dies, and the views reload from it', async () => {
    const before = api.daemon.state;
    assert.equal(before.kind, 'connected');
    const oldPid = (before as { pid: number }).pid;
    process.kill(oldPid, 'SIGKILL');
    await until('a new daemon', () => {
      const s = api.daemon.state;
      return s.kind === 'connected' && s.pid !== oldPid;
    }, 60_000);
    await until('the Clusters view to reload', () => api.clusters.list().some((c) => c.name === clusterName), 10_000);
  });

  it('asks about an unknown host key through the editor, and nothing is trusted when the user does not answer Trust', async () => {
    const kh = path.join(env.SLURM_ML_VSCODE_TMP ?? '/tmp', `known_hosts-${Date.now()}`);
    fs.writeFileSync(kh, '');
    const name = 'untrusted';
    await api.daemon.request(ClustersAdd, {
      name,
      host: env.SLURM_ML_TEST_HOST!,
      port: Number(env.SLURM_ML_TEST_PORT),
      user: env.SLURM_ML_TEST_USER!,
      identityFile: env.SLURM_ML_TEST_IDENTITY!,
      knownHostsFile: kh,
    });
    try {
      // The modal cannot be clicked here (the test workbench refuses dialogs),
      // so the prompt ends without "Trust": the daemon must refuse the key.
      await assert.rejects(api.daemon.request(ClustersTest, { name }, { timeoutMs: 60_000 }), (e: { code?: number; message?: string }) => {
        assert.equal(e.code, ErrorCode.HostKeyUnknown, e.message);
        return true;
      });
      assert.equal(fs.readFileSync(kh, 'utf8'), '', 'known_hosts is untouched');
    } finally {
      await api.daemon.request(ClustersRemove, { name });
    }
  });
});
