// Runtime estimates in the editor: as typing pauses, each sbatch script is
// sent to runtime/estimate once per version; the answer becomes diagnostics
// (the parser's problems, a TIMEOUT risk on the --time line with a Quick Fix,
// what submit will do to the script, such as converting CRLF line endings)
// and a CodeLens with the estimate, the expected start and Submit. A template
// (*.sbatch.hbs) is first rendered by the daemon with its variables' defaults.
// The logic is model/estimates.ts.
import * as vscode from 'vscode';
import { ErrorCode, RuntimeEstimateRequest, TemplatesRender, type RuntimeEstimate } from '../daemon/protocol';
import { RpcError } from '../daemon/rpc/connection';
import { DaemonUnavailable, errorMessage, type DaemonConnection } from './daemon';
import {
  ESTIMATE_DEBOUNCE_MS,
  estimateCluster,
  findTimeDirective,
  formatClock,
  isTemplate,
  LatestRequests,
  lensTitle,
  problemRange,
  splitLines,
  templateName,
  wantsEstimate,
  type EstimateDisplay,
  type ZeroBasedRange,
} from './model/estimates';
import type { ClustersTree } from './trees';

export const estimateSelector: vscode.DocumentSelector = [{ language: 'sbatch' }, { language: 'shellscript' }];
const SOURCE = 'Slurm ML';

class Stale extends Error {}

/** A template the daemon could not render (its header, a variable without default…): shown instead of an estimate. */
class TemplateProblem {
  constructor(readonly message: string) {}
}
type Outcome = RuntimeEstimate | TemplateProblem | undefined;

/** The expected start costs an `sbatch --test-only` on the cluster: at most once a minute per document. */
const START_EVERY_MS = 60_000;

export class EditorEstimates implements vscode.CodeLensProvider, vscode.CodeActionProvider, vscode.Disposable {
  static readonly fixKinds = [vscode.CodeActionKind.QuickFix];
  readonly diagnostics = vscode.languages.createDiagnosticCollection('slurmMl');
  private readonly lensEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensEmitter.event;
  /** The latest applied estimate per document. */
  private readonly results = new Map<string, Outcome>();
  private readonly requests: LatestRequests<Outcome>;
  /** The latest expected start per document, and when it was asked for. */
  private readonly starts = new Map<string, { at: number; iso: string | null }>();
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
      ESTIMATE_DEBOUNCE_MS,
    );
    this.cluster = this.resolveCluster();
    this.subs.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidChangeTextDocument((e) => e.contentChanges.length && this.schedule(e.document)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        const key = d.uri.toString();
        this.requests.forget(key);
        this.results.delete(key);
        this.starts.delete(key);
        this.diagnostics.delete(d.uri);
      }),
      vscode.workspace.onDidChangeConfiguration((e) => (e.affectsConfiguration('slurmMl.defaultCluster') || e.affectsConfiguration('slurmMl.estimates')) && this.refresh()),
      clusters.onDidChangeTreeData(() => {
        if (this.resolveCluster() !== this.cluster) this.refresh();
      }),
      daemon.onDidChangeState((st) => st.kind === 'connected' && this.refresh()),
    );
    for (const d of vscode.workspace.textDocuments) this.schedule(d);
  }

  private resolveCluster(): string | undefined {
    const setting = vscode.workspace.getConfiguration('slurmMl').get<string>('defaultCluster');
    return estimateCluster(setting, this.clusters.list().map((c) => c.name));
  }

  private display(): EstimateDisplay {
    return vscode.workspace.getConfiguration('slurmMl').get<EstimateDisplay>('estimates.display', 'range');
  }

  private wants(d: vscode.TextDocument): boolean {
    return d.uri.scheme !== 'output' && this.display() !== 'off' && wantsEstimate(d.languageId, d.fileName, d.getText());
  }

  /** Asks again for every open script (settings, clusters or the runtime model changed). */
  refresh(): void {
    this.cluster = this.resolveCluster();
    this.requests.invalidate();
    this.starts.clear();
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

  private async run(key: string, version: number): Promise<Outcome> {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
    if (!doc || doc.version !== version) throw new Stale('stale');
    const cluster = this.cluster;
    if (!cluster || !this.wants(doc)) return undefined;
    try {
      let script = doc.getText();
      if (isTemplate(doc.fileName)) {
        try {
          // No values: every variable takes its default (an unset optional one leaves its directive out).
          script = (await this.daemon.request(TemplatesRender, { template: templateName(doc.fileName), source: script, values: {} })).script;
        } catch (err) {
          if (err instanceof RpcError && err.code === ErrorCode.InvalidParams) return new TemplateProblem(err.message);
          throw err;
        }
      }
      return await this.daemon.request(RuntimeEstimateRequest, { cluster, script, sbatchArgs: [], expectedStart: false }, { timeoutMs: 120_000 });
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

  private apply(key: string, e: Outcome): void {
    const doc = this.document(key);
    if (!doc) return;
    this.results.set(key, e);
    this.diagnostics.set(doc.uri, e ? this.toDiagnostics(doc, e) : []);
    this.lensEmitter.fire();
    if (e && !(e instanceof TemplateProblem) && !isTemplate(doc.fileName)) this.askStart(doc);
  }

  /** The expected start for the lens, from sbatch --test-only, at most once a minute per document. */
  private askStart(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    const last = this.starts.get(key);
    const cluster = this.cluster;
    if (!cluster || (last && Date.now() - last.at < START_EVERY_MS)) return;
    this.starts.set(key, { at: Date.now(), iso: last?.iso ?? null });
    this.daemon
      .request(RuntimeEstimateRequest, { cluster, script: doc.getText(), sbatchArgs: [], expectedStart: true }, { timeoutMs: 120_000 })
      .then((r) => {
        if (!this.document(key)) return;
        this.starts.set(key, { at: Date.now(), iso: r.expectedStart });
        this.lensEmitter.fire();
      })
      .catch((err) => this.log.debug(`expected start: ${errorMessage(err)}`));
  }

  private toDiagnostics(doc: vscode.TextDocument, outcome: Exclude<Outcome, undefined>): vscode.Diagnostic[] {
    const lines = splitLines(doc.getText());
    const range = (r: ZeroBasedRange) => new vscode.Range(r.line, r.start, r.line, r.end);
    if (outcome instanceof TemplateProblem) {
      const d = new vscode.Diagnostic(range(problemRange({ line: 1, column: 1, endColumn: 1 }, lines)), `No estimate: ${outcome.message}`, vscode.DiagnosticSeverity.Warning);
      d.source = SOURCE;
      d.code = 'template';
      return [d];
    }
    const e = outcome;
    if (isTemplate(doc.fileName)) {
      // Lines of the rendered script are not the template's: the warnings go on the first directive, without a fix.
      const first = Math.max(0, lines.findIndex((l) => /^#SBATCH\b/.test(l)));
      return [...e.problems.map((p) => `${p.message} (in the script rendered with the defaults)`), ...e.warnings.map((w) => w.message), ...(e.notices ?? []).map((n) => n.message)].map((m) => {
        const d = new vscode.Diagnostic(range(problemRange({ line: first + 1, column: 1, endColumn: 1 }, lines)), m, vscode.DiagnosticSeverity.Information);
        d.source = SOURCE;
        return d;
      });
    }
    const out = e.problems.map((p) => {
      const d = new vscode.Diagnostic(range(problemRange(p, lines)), p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      d.source = SOURCE;
      if (p.option) d.code = p.option;
      return d;
    });
    // Not faults: what submitting does to the script (Windows line endings become Unix ones).
    for (const n of e.notices ?? []) {
      const d = new vscode.Diagnostic(range(problemRange(n, lines)), n.message, vscode.DiagnosticSeverity.Information);
      d.source = SOURCE;
      d.code = n.code;
      out.push(d);
    }
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
      const r = await this.requests.now(doc.uri.toString(), doc.version);
      return r instanceof TemplateProblem ? undefined : r;
    } catch {
      return undefined;
    }
  }

  async provideCodeLenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    if (!this.wants(doc)) return [];
    const e = await this.estimateFor(doc);
    const lines = splitLines(doc.getText());
    const first = Math.max(0, lines.findIndex((l) => /^\s*#SBATCH\b/.test(l)));
    const at = new vscode.Range(first, 0, first, 0);
    const display = this.display();
    if (isTemplate(doc.fileName)) {
      return [new vscode.CodeLens(at, { title: lensTitle(e, { display, template: true }), command: '', tooltip: 'Estimated from the script this template renders with its variables\' defaults' })];
    }
    const start = this.starts.get(doc.uri.toString())?.iso;
    return [new vscode.CodeLens(at, { title: lensTitle(e, { display, ...(start ? { start: formatClock(start) } : {}) }), command: 'slurmMl.submitCurrentScript', arguments: [doc.uri], tooltip: 'Submit this script' })];
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range | vscode.Selection, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const e = this.results.get(doc.uri.toString());
    const time = findTimeDirective(splitLines(doc.getText()));
    if (!e || e instanceof TemplateProblem || !time || isTemplate(doc.fileName)) return [];
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
