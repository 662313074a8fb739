// Editing sbatch scripts in a real VS Code against the real cluster:
// completion of options and of the cluster's partitions, QOS and accounts,
// hover docs, a template's estimate from its defaults, the Retrain Runtime
// Model command, the walkthrough and the slurmMl.clusters setting.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ClustersList, ClustersRemove } from '../../../daemon/protocol';
import type { SlurmMlApi } from '../../../extension/main';
import { activateWithTestCluster, clusterName, env, until } from './support';

const repo = path.resolve(__dirname, '../..');
const tmpRoot = env.SLURM_ML_VSCODE_TMP ?? '/tmp';


async function openScript(name: string, text: string): Promise<vscode.TextDocument> {
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'edit-'));
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  const doc = await vscode.workspace.openTextDocument(file);
  await vscode.window.showTextDocument(doc);
  return doc;
}

const labels = (list: vscode.CompletionList | undefined) => (list?.items ?? []).map((i) => (typeof i.label === 'string' ? i.label : i.label.label));

describe('Slurm ML: editing sbatch scripts', () => {
  let api: SlurmMlApi;
  const config = () => vscode.workspace.getConfiguration('slurmMl');

  before(async () => {
    api = await activateWithTestCluster();
    await api.clusters.reload();
    await config().update('defaultCluster', clusterName, vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await config().update('defaultCluster', undefined, vscode.ConfigurationTarget.Global);
  });

  it('completes #SBATCH options, and partitions, QOS and accounts from the cluster', async () => {
    const doc = await openScript('c.sbatch', '#!/bin/bash\n#SBATCH --ti\n#SBATCH --partition=\n#SBATCH --qos=\n#SBATCH -A \n#SBATCH --mail-type=\necho hi\n#SBATCH --partition=\n');
    const at = (line: number) => new vscode.Position(line, doc.lineAt(line).text.length);
    const complete = (line: number) => vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', doc.uri, at(line));
    assert.ok(labels(await complete(1)).includes('--time'), 'options are offered');
    const partitions = (env.SLURM_ML_TEST_PARTITIONS ?? 'debug long').split(/\s+/);
    const p = await until('partitions from the cluster', async () => {
      const l = labels(await complete(2));
      return partitions.every((x) => l.includes(x)) ? (await complete(2))! : undefined;
    });
    const def = p.items.find((i) => (typeof i.label === 'string' ? i.label : i.label.label) === (env.SLURM_ML_TEST_DEFAULT_PARTITION ?? 'debug'))!;
    assert.match((def.label as vscode.CompletionItemLabel).description ?? '', /^default/, 'the default partition says so');
    const qos = labels(await complete(3));
    for (const q of (env.SLURM_ML_TEST_QOS ?? 'normal high low').split(/\s+/)) assert.ok(qos.includes(q), `QOS ${q} offered (${qos.join(', ')})`);
    assert.ok(labels(await complete(4)).includes(env.SLURM_ML_TEST_ACCOUNT ?? 'research'), 'accounts offered after -A');
    assert.ok(labels(await complete(5)).includes('END'), 'fixed values of --mail-type');
    assert.deepEqual(labels(await complete(7)).filter((l) => partitions.includes(l)), [], 'nothing after the first command: sbatch ignores it');
  });

  it('explains an option on hover', async () => {
    const doc = await openScript('h.sbatch', '#!/bin/bash\n#SBATCH --time=10 -p debug\necho hi\n');
    const hoverText = async (character: number) => {
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(1, character));
      return hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))).join('\n');
    };
    const text = await hoverText(11);
    assert.match(text, /#SBATCH --time=<time>/);
    assert.match(text, /TIMEOUT/);
    assert.match(await hoverText(19), /#SBATCH --partition=<partition>, -p <partition>/);
    assert.doesNotMatch(await hoverText(23), /#SBATCH/, 'a value is not an option');
  });

  it("estimates a template from its variables' defaults, and names a broken one", async () => {
    const train = fs.readFileSync(path.join(repo, 'templates', 'train.sbatch.hbs'), 'utf8');
    // A default time limit gives the estimate a request to start from even without history.
    const withTime = train.replace('{"name": "time", "type": "time", "required": false,', '{"name": "time", "type": "time", "default": "7",');
    assert.notEqual(withTime, train);
    const doc = await openScript(path.join('.slurm-ml', 'templates', 'mine.sbatch.hbs'), withTime);
    assert.equal(doc.languageId, 'sbatch');
    const lens = await until('a CodeLens with the estimate', async () => {
      const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri)) ?? [];
      return lenses.find((l) => /^≈ .* · with the template's defaults$/.test(l.command?.title ?? ''));
    });
    assert.ok(lens);
    const broken = await openScript(path.join('.slurm-ml', 'templates', 'broken.sbatch.hbs'), train.replace('"kind": "train"', '"kind": "nonsense"'));
    const d = await until('a diagnostic naming the template problem', () => {
      const x = vscode.languages.getDiagnostics(broken.uri).find((y) => /^No estimate: .*kind/.test(y.message));
      return x;
    });
    assert.equal(d.severity, vscode.DiagnosticSeverity.Warning);
  });

  it('retrains the runtime model from the command, and the Models view shows it', async () => {
    const r = await vscode.commands.executeCommand<{ version: number; jobs: number; promoted: boolean; cluster: string }>('slurmMl.retrainRuntimeModel', clusterName);
    assert.ok(r, 'the command returns the training result');
    assert.equal(r.cluster, clusterName);
    assert.ok(r.version >= 1 && r.jobs > 0, JSON.stringify(r));
    await until('the runtime model in the Models view', () => api.models.list().find((m) => m.name === `runtime-${clusterName}` && (m.latest ?? 0) >= r.version));
  });

  it('warns of an over-requested time limit and its quick fix sets the suggested one', async () => {
    // The cluster's test jobs run for seconds to minutes: a day is far more than 4 × p90.
    const doc = await openScript('fix.sbatch', '#!/bin/bash\n#SBATCH --job-name=hello-slurm-ml\n#SBATCH --partition=long\n#SBATCH --time=1-00:00:00\necho hi\n');
    const warning = () => vscode.languages.getDiagnostics(doc.uri).find((d) => d.code === 'over-request');
    const d = await until('an over-request warning on the --time line', warning, 60_000);
    assert.equal(d.range.start.line, 3);
    assert.equal(doc.getText(d.range), '1-00:00:00', 'the warning marks the limit itself');
    assert.match(d.message, /more than 4 × the p90 estimate/);
    const actions = await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>('vscode.executeCodeActionProvider', doc.uri, d.range, vscode.CodeActionKind.QuickFix.value);
    const fix = actions.find((a): a is vscode.CodeAction => 'edit' in a && /^Set the time limit to /.test(a.title));
    assert.ok(fix?.edit, `a quick fix is offered (${actions.map((a) => a.title).join(', ')})`);
    const suggested = fix.title.replace('Set the time limit to ', '');
    assert.ok(await vscode.workspace.applyEdit(fix.edit));
    assert.equal(doc.lineAt(3).text, `#SBATCH --time=${suggested}`);
    const seconds = suggested.split(/[-:]/).map(Number).reverse().reduce((s, v, i) => s + v * [1, 60, 3600, 86400][i]!, 0);
    assert.ok(seconds > 0 && seconds < 6 * 3600, `the suggested limit ${suggested} is under a quarter of the day asked for`);
    await until('the warning gone once the limit is the suggested one', () => (warning() === undefined ? true : undefined), 60_000);
    assert.deepEqual(vscode.languages.getDiagnostics(doc.uri).filter((x) => x.code === 'timeout-risk'), [], 'nor does the fix risk a TIMEOUT');
  });

  it('contributes a walkthrough whose steps have their media, and opens the sample script', async () => {
    const ext = vscode.extensions.getExtension('slurm-ml.slurm-ml')!;
    const w = (ext.packageJSON.contributes.walkthroughs as { id: string; steps: { id: string; media: { markdown: string } }[] }[])[0]!;
    assert.deepEqual(w.steps.map((s) => s.id), ['addCluster', 'submitSample', 'train', 'watch', 'promote']);
    for (const s of w.steps) assert.ok(fs.existsSync(path.join(ext.extensionPath, s.media.markdown)), s.media.markdown);
    await vscode.commands.executeCommand('slurmMl.openWalkthrough');
    const doc = await vscode.commands.executeCommand<vscode.TextDocument>('slurmMl.openSample');
    assert.equal(doc.languageId, 'sbatch');
    assert.match(doc.getText(), /^#!\/bin\/bash\n#SBATCH --job-name=hello-slurm-ml/);
  });

  it('disconnects a cluster and connects it again from its tree item', async () => {
    await vscode.commands.executeCommand('slurmMl.connectCluster', clusterName);
    const status = () => api.clusters.list().find((c) => c.name === clusterName)?.connection.status;
    assert.equal(status(), 'ready');
    const r = await vscode.commands.executeCommand<{ wasConnected: boolean }>('slurmMl.disconnectCluster', clusterName);
    assert.equal(r.wasConnected, true);
    assert.equal(status(), 'disconnected');
    const node = (await api.clusters.getChildren()).find((n) => n.kind === 'cluster' && n.cluster.name === clusterName)!;
    assert.equal(api.clusters.getTreeItem(node).contextValue, 'cluster.disconnected', 'the item offers Connect');
    await vscode.commands.executeCommand('slurmMl.connectCluster', node);
    assert.equal(status(), 'ready');
  });

  it('registers a cluster declared in the slurmMl.clusters setting', async () => {
    const name = 'fromsettings';
    await config().update(
      'clusters',
      [{ name, host: env.SLURM_ML_TEST_HOST, port: Number(env.SLURM_ML_TEST_PORT), user: env.SLURM_ML_TEST_USER, identityFile: env.SLURM_ML_TEST_IDENTITY, knownHostsFile: env.SLURM_ML_TEST_KNOWN_HOSTS }],
      vscode.ConfigurationTarget.Global,
    );
    try {
      await until('the cluster in the Clusters view', () => api.clusters.list().some((c) => c.name === name), 30_000);
      const listed = await api.daemon.request(ClustersList, {});
      assert.equal(listed.clusters.find((c) => c.name === name)?.port, Number(env.SLURM_ML_TEST_PORT));
    } finally {
      await config().update('clusters', undefined, vscode.ConfigurationTarget.Global);
      await api.daemon.request(ClustersRemove, { name }).catch(() => undefined);
    }
  });
});
