// Runtime estimates in the editor: as typing pauses, each sbatch script is
// sent to runtime/estimate once per version; the answer becomes diagnostics
// (the parser's problems, a TIMEOUT risk on the --time line with a Quick Fix)
// and a CodeLens with the estimate and Submit. The logic is model/estimates.ts.
import * as vscode from 'vscode';
import { RuntimeEstimateRequest, type RuntimeEstimate } from '../daemon/protocol';
import { DaemonUnavailable, errorMessage, type DaemonConnection } from './daemon';
import { estimateCluster, findTimeDirective, LatestRequests, lensTitle, problemRange, splitLines, wantsEstimate, type ZeroBasedRange } from './model/estimates';
import type { ClustersTree } from './trees';

export const estimateSelector: vscode.DocumentSelector = [{ language: 'sbatch' }, { language: 'shellscript' }];
const SOURCE = 'Slurm ML';

class Stale extends Error {}

export class EditorEstimates implements vscode.CodeLensProvider, vscode.CodeActionProvider, vscode.Disposable {
  static readonly fixKinds = [vscode.CodeActionKind.QuickFix];
  readonly diagnostics = vscode.languages.createDiagnosticCollection('slurmMl');
  private readonly lensEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensEmitter.event;
  /** The latest applied estimate per document. */
  private readonly results = new Map<string, RuntimeEstimate | undefined>();
  private readonly requests: LatestRequests<RuntimeEstimate | undefined>;
  private readonly subs: vscode.Disposable[] = [];
  private cluster: string | undefined;
  private readonly reported = new Set<string>();

  constructor(
    private readonly daemon: DaemonConnection,
    private readonly clusters: ClustersTree,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.requests = new LatestRequests(
      (key, version) => this.run(key, version),
      (key, _version, result) => this.apply(key, result),
      300,
    );
    this.cluster = this.resolveCluster();
    this.subs.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidChangeTextDocument((e) => e.contentChanges.length && this.schedule(e.document)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        const key = d.uri.toString();
        this.requests.forget(key);
        this.results.delete(key);
        this.diagnostics.delete(d.uri);
      }),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('slurmMl.defaultCluster') && this.refreshAll()),
      clusters.onDidChangeTreeData(() => {
        if (this.resolveCluster() !== this.cluster) this.refreshAll();
      }),
      daemon.onDidChangeState((st) => st.kind === 'connected' && this.refreshAll()),
    );
    for (const d of vscode.workspace.textDocuments) this.schedule(d);
  }

  private resolveCluster(): string | undefined {
    const setting = vscode.workspace.getConfiguration('slurmMl').get<string>('defaultCluster');
    return estimateCluster(setting, this.clusters.list().map((c) => c.name));
  }

  private wants(d: vscode.TextDocument): boolean {
    return d.uri.scheme !== 'output' && wantsEstimate(d.languageId, d.fileName, d.getText());
  }

  private refreshAll(): void {
    this.cluster = this.resolveCluster();
    this.requests.invalidate();
    for (const d of vscode.workspace.textDocuments) this.schedule(d);
    this.lensEmitter.fire();
  }

  private schedule(d: vscode.TextDocument): void {
    if (!this.wants(d)) {
      if (this.results.has(d.uri.toString())) {
        this.results.delete(d.uri.toString());
        this.diagnostics.delete(d.uri);
      }
      return;
    }
    this.requests.schedule(d.uri.toString(), d.version);
  }

  private async run(key: string, version: number): Promise<RuntimeEstimate | undefined> {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
    if (!doc || doc.version !== version) throw new Stale('stale');
    const cluster = this.cluster;
    if (!cluster || !this.wants(doc)) return undefined;
    try {
      return await this.daemon.request(RuntimeEstimateRequest, { cluster, script: doc.getText(), sbatchArgs: [], expectedStart: false }, { timeoutMs: 120_000 });
    } catch (err) {
      if (err instanceof DaemonUnavailable) throw err; // retried when the daemon is back
      const msg = errorMessage(err);
      if (!this.reported.has(msg)) {
        this.reported.add(msg);
        this.log.warn(`runtime/estimate on ${cluster}: ${msg}`);
      }
      return undefined;
    }
  }

  private document(key: string): vscode.TextDocument | undefined {
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
  }

  private apply(key: string, e: RuntimeEstimate | undefined): void {
    const doc = this.document(key);
    if (!doc) return;
    this.results.set(key, e);
    this.diagnostics.set(doc.uri, e ? this.toDiagnostics(doc, e) : []);
    this.lensEmitter.fire();
  }

  private toDiagnostics(doc: vscode.TextDocument, e: RuntimeEstimate): vscode.Diagnostic[] {
    const lines = splitLines(doc.getText());
    const range = (r: ZeroBasedRange) => new vscode.Range(r.line, r.start, r.line, r.end);
    const out = e.problems.map((p) => {
      const d = new vscode.Diagnostic(range(problemRange(p, lines)), p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      d.source = SOURCE;
      if (p.option) d.code = p.option;
      return d;
    });
    const time = findTimeDirective(lines);
    for (const w of e.warnings) {
      const at = time ? range(time) : range(problemRange({ line: 0, column: 1, endColumn: 1 }, lines));
      const d = new vscode.Diagnostic(at, w.message, w.kind === 'timeout-risk' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information);
      d.source = SOURCE;
      d.code = w.kind;
      out.push(d);
    }
    return out;
  }

  /** The estimate of the current version, shared with the diagnostics' request. */
  async estimateFor(doc: vscode.TextDocument): Promise<RuntimeEstimate | undefined> {
    if (!this.wants(doc) || !this.cluster) return undefined;
    try {
      return await this.requests.now(doc.uri.toString(), doc.version);
    } catch {
      return undefined;
    }
  }

  async provideCodeLenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    if (!this.wants(doc)) return [];
    const e = await this.estimateFor(doc);
    const lines = splitLines(doc.getText());
    const first = Math.max(0, lines.findIndex((l) => /^\s*#SBATCH\b/.test(l)));
    return [new vscode.CodeLens(new vscode.Range(first, 0, first, 0), { title: lensTitle(e), command: 'slurmMl.submitCurrentScript', arguments: [doc.uri], tooltip: 'Submit this script' })];
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range | vscode.Selection, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const e = this.results.get(doc.uri.toString());
    const time = findTimeDirective(splitLines(doc.getText()));
    if (!e || !time) return [];
    const out: vscode.CodeAction[] = [];
    for (const d of context.diagnostics) {
      if (d.source !== SOURCE || (d.code !== 'timeout-risk' && d.code !== 'over-request')) continue;
      const w = e.warnings.find((x) => x.kind === d.code && x.suggestedLimit);
      if (!w?.suggestedLimit) continue;
      const fix = new vscode.CodeAction(`Set the time limit to ${w.suggestedLimit}`, vscode.CodeActionKind.QuickFix);
      fix.edit = new vscode.WorkspaceEdit();
      fix.edit.replace(doc.uri, new vscode.Range(time.line, time.start, time.line, time.end), w.suggestedLimit);
      fix.diagnostics = [d];
      fix.isPreferred = d.code === 'timeout-risk';
      out.push(fix);
    }
    return out;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.requests.dispose();
    this.diagnostics.dispose();
    this.lensEmitter.dispose();
  }
}
