// The dashboard in a real VS Code (code-server's workbench in headless
// Chromium) against the real cluster: Open Dashboard shows the jobs the daemon
// follows, and a job submitted while it is open appears without a reload. What
// the page shows comes from the page itself: after each render it reports the
// ids of the grid rows in its DOM.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { JobsList, JobsSubmit } from '../../../daemon/protocol';
import type { Dashboard } from '../../../extension/dashboard';
import type { SlurmMlApi } from '../../../extension/main';
import { activateWithTestCluster, clusterName, until } from './support';



describe('Slurm ML dashboard in VS Code', () => {
  let api: SlurmMlApi;

  before(async () => {
    api = await activateWithTestCluster();
  });

  it('Open Dashboard shows the jobs of the real cluster, and a job submitted meanwhile appears without a reload', async () => {
    // At least one job on the real cluster before the dashboard opens.
    const first = await api.daemon.request(JobsSubmit, { cluster: clusterName, script: '#!/bin/bash\necho dashboard-before\n', scriptName: 'dash-before.sbatch', name: 'dash-before' }, { timeoutMs: 120_000 });
    assert.ok(first.slurmJobId, 'sbatch answered');
    const known = (await api.daemon.request(JobsList, { limit: 10_000 })).jobs;

    const dashboard = (await vscode.commands.executeCommand<Dashboard>('slurmMl.openDashboard'))!;
    assert.ok(dashboard?.isOpen, 'the command opens the dashboard and returns it');
    const shown = await until('the page to render the jobs', () => {
      const r = dashboard.lastRendered;
      return r && r.view === 'jobs' && r.total >= known.length && r.rowIds.includes(first.id) ? r : undefined;
    }, 60_000);
    assert.equal(shown.shown, shown.total, 'no filter: every job is in the grid');
    // Newest first: the grid starts with the jobs the daemon lists first.
    const newest = known.slice(0, Math.min(5, shown.rowIds.length)).map((j) => j.id);
    assert.deepEqual(shown.rowIds.slice(0, newest.length), newest);
    assert.equal(dashboard.loads, 1);

    // Submitted while the dashboard is open: it arrives through jobs/didChange.
    const second = await api.daemon.request(JobsSubmit, { cluster: clusterName, script: '#!/bin/bash\nsleep 2\necho dashboard-after\n', scriptName: 'dash-after.sbatch', name: 'dash-after' }, { timeoutMs: 120_000 });
    // While sbatch has not answered the job has no submit time and sorts last (webviewData.test.ts); once
    // submitted it is the newest: wait for that render, not the first one that lists it.
    const after = await until('the new job in the grid, among the first rows (the newest)', () => {
      const r = dashboard.lastRendered;
      return r && r.rowIds.slice(0, 3).includes(second.id) ? r : undefined;
    }, 60_000);
    assert.ok(after.rowIds.slice(0, 3).includes(second.id), 'the newest job is among the first rows');
    assert.equal(after.total, shown.total + 1);
    assert.equal(dashboard.loads, 1, 'the page was not reloaded');
    assert.deepEqual(dashboard.problems, [], 'no script error and nothing blocked by the CSP in the real webview');
  });

  it('hidden and shown again, the page loads afresh and shows what changed meanwhile', async () => {
    const dashboard = (await vscode.commands.executeCommand<Dashboard>('slurmMl.openDashboard'))!;
    await until('the dashboard in view', () => dashboard.isVisible, 30_000);
    const loads = dashboard.loads;
    // An editor in the same column hides the panel; its page is dropped.
    const doc = await vscode.workspace.openTextDocument({ content: 'hiding the dashboard', language: 'plaintext' });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Active, preview: false });
    await until('the dashboard hidden', () => !dashboard.isVisible, 30_000);
    const whileHidden = await api.daemon.request(JobsSubmit, { cluster: clusterName, script: '#!/bin/bash\necho hidden\n', scriptName: 'dash-hidden.sbatch', name: 'dash-hidden' }, { timeoutMs: 120_000 });
    await vscode.commands.executeCommand('slurmMl.openDashboard');
    const r = await until('the reloaded page with the job submitted while hidden', () => {
      const x = dashboard.lastRendered;
      return dashboard.loads > loads && x && x.rowIds.includes(whileHidden.id) ? x : undefined;
    }, 60_000);
    assert.equal(dashboard.loads, loads + 1, 'one new load of the page');
    assert.equal(r.view, 'jobs');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });
});
