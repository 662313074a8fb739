// Editing #SBATCH lines: completion of options and of the values the cluster
// knows (partitions from sinfo, accounts and QOS from sacctmgr, through the
// daemon), fixed value sets, and hover documentation. Which option or value
// the cursor is in is model/sbatchOptions.ts.
import * as vscode from 'vscode';
import { ClustersAccounting, ClustersPartitions, type AccountInfo, type PartitionInfo, type QosInfo } from '../daemon/protocol';
import { errorMessage, type DaemonConnection } from './daemon';
import { estimateCluster, formatDuration, splitLines } from './model/estimates';
import { completionSpot, inDirectiveBlock, optionAt, optionMarkdown, sbatchOptions, type ClusterValueKind } from './model/sbatchOptions';
import type { ClustersTree } from './trees';

export const sbatchEditingSelector: vscode.DocumentSelector = [{ language: 'sbatch' }, { language: 'shellscript' }];

interface ClusterValues {
  partitions: PartitionInfo[];
  accounts: AccountInfo[];
  qos: QosInfo[];
}

/** What a cluster offers, fetched once per cluster and kept for a few minutes (partitions and accounts rarely change). */
class ClusterValuesCache {
  private readonly entries = new Map<string, { at: number; value: Promise<ClusterValues> }>();
  constructor(
    private readonly daemon: DaemonConnection,
    private readonly log: vscode.LogOutputChannel,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  get(cluster: string): Promise<ClusterValues> {
    const e = this.entries.get(cluster);
    if (e && Date.now() - e.at < this.ttlMs) return e.value;
    const value = this.fetch(cluster);
    this.entries.set(cluster, { at: Date.now(), value });
    // A failure is not cached for long: the next completion asks again after 30 s.
    value.catch(() => this.entries.set(cluster, { at: Date.now() - this.ttlMs + 30_000, value }));
    return value;
  }

  private async fetch(cluster: string): Promise<ClusterValues> {
    const [p, a] = await Promise.allSettled([
      this.daemon.request(ClustersPartitions, { name: cluster }, { timeoutMs: 60_000 }),
      this.daemon.request(ClustersAccounting, { name: cluster }, { timeoutMs: 60_000 }),
    ]);
    if (p.status === 'rejected') this.log.warn(`partitions of ${cluster}: ${errorMessage(p.reason)}`);
    if (a.status === 'rejected') this.log.warn(`accounts and QOS of ${cluster}: ${errorMessage(a.reason)}`);
    else if (!a.value.available) this.log.info(`accounts and QOS of ${cluster}: no accounting (${a.value.message ?? ''})`);
    if (p.status === 'rejected' && a.status === 'rejected') throw p.reason;
    return {
      partitions: p.status === 'fulfilled' ? p.value.partitions : [],
      accounts: a.status === 'fulfilled' ? a.value.accounts : [],
      qos: a.status === 'fulfilled' ? a.value.qos : [],
    };
  }

  clear(): void {
    this.entries.clear();
  }
}

export class SbatchEditing implements vscode.CompletionItemProvider, vscode.HoverProvider, vscode.Disposable {
  static readonly triggerCharacters = ['-', '=', ' '];
  private readonly cache: ClusterValuesCache;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly daemon: DaemonConnection,
    private readonly clusters: ClustersTree,
    log: vscode.LogOutputChannel,
  ) {
    this.cache = new ClusterValuesCache(daemon, log);
    this.subs.push(daemon.onDidChangeState((s) => s.kind === 'connected' && this.cache.clear()));
  }

  private cluster(): string | undefined {
    return estimateCluster(vscode.workspace.getConfiguration('slurmMl').get<string>('defaultCluster'), this.clusters.list().map((c) => c.name));
  }

  /** Values of one kind on the cluster used for estimates; [] without a cluster or a daemon. */
  async clusterValues(kind: ClusterValueKind): Promise<vscode.CompletionItem[]> {
    const cluster = this.cluster();
    if (!cluster || this.daemon.state.kind !== 'connected') return [];
    let v: ClusterValues;
    try {
      v = await this.cache.get(cluster);
    } catch {
      return [];
    }
    const limit = (s: number | null, unlimited = false) => (unlimited ? 'no limit' : s === null ? '—' : formatDuration(s));
    switch (kind) {
      case 'partition':
        return v.partitions.map((p, i) => {
          const item = new vscode.CompletionItem({ label: p.name, description: `${p.isDefault ? 'default · ' : ''}${p.avail} · max ${limit(p.maxTimeSeconds, p.maxTimeUnlimited)}` }, vscode.CompletionItemKind.EnumMember);
          item.detail = `partition on ${cluster}`;
          item.documentation = new vscode.MarkdownString(
            [
              `**${p.name}**${p.isDefault ? ' (default)' : ''}: ${p.avail}`,
              `- time limit: ${limit(p.maxTimeSeconds, p.maxTimeUnlimited)} (default ${limit(p.defaultTimeSeconds)})`,
              `- ${p.nodes} node(s)${p.nodesByState ? `, ${p.nodesByState.idle} idle` : ''}${p.maxCpusPerNode !== null ? `, up to ${p.maxCpusPerNode} CPUs` : ''}${p.maxMemoryPerNodeMb !== null ? ` and ${Math.round(p.maxMemoryPerNodeMb / 1024)} GB per node` : ''}`,
              ...(p.gres.length ? [`- GRES: ${p.gres.join(', ')}`] : []),
            ].join('\n'),
          );
          item.sortText = `${p.isDefault ? 0 : 1}${String(i).padStart(4, '0')}`;
          return item;
        });
      case 'qos':
        return v.qos.map((q) => {
          const item = new vscode.CompletionItem({ label: q.name, description: `max ${limit(q.maxWallSeconds)}${q.priority !== null ? ` · priority ${q.priority}` : ''}` }, vscode.CompletionItemKind.EnumMember);
          item.detail = `QOS on ${cluster}`;
          item.documentation = q.description;
          return item;
        });
      case 'account':
        return v.accounts.map((a) => {
          const item = new vscode.CompletionItem({ label: a.name, description: a.isDefault ? 'your default account' : '' }, vscode.CompletionItemKind.EnumMember);
          item.detail = `account on ${cluster}`;
          item.documentation = `QOS: ${a.qos.join(', ') || '—'}${a.defaultQos ? ` (default ${a.defaultQos})` : ''}${a.partitions.length ? `; partitions: ${a.partitions.join(', ')}` : ''}`;
          item.sortText = a.isDefault ? '0' : `1${a.name}`;
          return item;
        });
    }
  }

  async provideCompletionItems(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.CompletionItem[] | undefined> {
    const lines = splitLines(doc.getText());
    if (!inDirectiveBlock(lines, pos.line)) return undefined;
    const spot = completionSpot(lines[pos.line]!, pos.character);
    if (!spot) return undefined;
    const range = new vscode.Range(pos.line, spot.start, pos.line, spot.end);
    if (spot.kind === 'option') {
      return sbatchOptions().map((o) => {
        const item = new vscode.CompletionItem({ label: `--${o.name}`, description: o.short ? `-${o.short}` : undefined }, vscode.CompletionItemKind.Property);
        item.range = range;
        item.documentation = new vscode.MarkdownString(optionMarkdown(o));
        item.filterText = `--${o.name}`;
        if (o.arg === 'required') {
          item.insertText = `--${o.name}=`;
          // Open the value list right away (partitions, QOS, accounts, fixed values).
          if (o.clusterValue || o.doc.values) item.command = { command: 'editor.action.triggerSuggest', title: 'values' };
        }
        return item;
      });
    }
    const items = spot.option.clusterValue ? await this.clusterValues(spot.option.clusterValue) : (spot.option.doc.values ?? []).map((v) => new vscode.CompletionItem(v, vscode.CompletionItemKind.EnumMember));
    for (const i of items) i.range = range;
    return items;
  }

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const lines = splitLines(doc.getText());
    if (!inDirectiveBlock(lines, pos.line)) return undefined;
    const at = optionAt(lines[pos.line]!, pos.character);
    if (!at) return undefined;
    return new vscode.Hover(new vscode.MarkdownString(optionMarkdown(at.option)), new vscode.Range(pos.line, at.start, pos.line, at.end));
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
