// What a user may charge and ask for, from the accounting database through
// `sacctmgr --parsable2`: the QOS defined on the cluster, and the user's
// associations (account, partition, the QOS they may use, the default QOS)
// and default account. Parsers never throw (see output.ts).
import { issue, outputLines, rowsResult } from './output';
import type { ParseIssue, ParseResult } from './output';
import { parseSlurmDurationDetailed } from './time';

/** A user name as sacctmgr accepts it in `where user=NAME` (one argv element, no spaces or separators). */
const USER_NAME = /^[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}$/;

export function sacctmgrQosCommand(): string[] {
  return ['sacctmgr', '--noheader', '--parsable2', 'show', 'qos', 'format=Name,MaxWall,Priority,Description'];
}

export function sacctmgrAssociationsCommand(user: string): string[] {
  if (!USER_NAME.test(user)) throw new RangeError(`invalid user name: ${JSON.stringify(user)}`);
  return ['sacctmgr', '--noheader', '--parsable2', 'show', 'associations', `where`, `user=${user}`, 'format=Account,Partition,QOS,DefaultQOS'];
}

export function sacctmgrUserCommand(user: string): string[] {
  if (!USER_NAME.test(user)) throw new RangeError(`invalid user name: ${JSON.stringify(user)}`);
  return ['sacctmgr', '--noheader', '--parsable2', 'show', 'user', user, 'format=User,DefaultAccount'];
}

export interface QosRow {
  name: string;
  /** Seconds; null when the QOS sets no maximum. */
  maxWallSeconds: number | null;
  priority: number | null;
  description: string;
}

export interface AssociationRow {
  account: string;
  /** Null: any partition. */
  partition: string | null;
  qos: string[];
  defaultQos: string | null;
}

/** With --parsable2 a line ends without a trailing `|`; columns are `|`-separated and names never contain one. */
function columns(line: string, count: number): string[] | null {
  const cols = line.split('|');
  if (cols.length !== count) return null;
  return cols.map((c) => c.trim());
}

/** Rows of `count` columns, each mapped by `row`; a line that is not one is reported as an issue naming the `expected` columns. */
function parseRows<T>(output: string, count: number, expected: string, row: (c: string[]) => T): ParseResult<T[]> {
  const rows: T[] = [];
  const issues: ParseIssue[] = [];
  let nonBlank = 0;
  for (const [i, line] of outputLines(output).entries()) {
    if (line.trim() === '') continue;
    nonBlank++;
    const c = columns(line, count);
    if (!c || !c[0]) {
      issues.push(issue(i + 1, line, `expected ${expected}`));
      continue;
    }
    rows.push(row(c));
  }
  return rowsResult('sacctmgr', rows, issues, nonBlank);
}

export function parseQos(output: string): ParseResult<QosRow[]> {
  return parseRows(output, 4, 'Name|MaxWall|Priority|Description', (c) => {
    const wall = parseSlurmDurationDetailed(c[1]!);
    const priority = /^\d+$/.test(c[2]!) ? Number(c[2]) : null;
    return { name: c[0]!, maxWallSeconds: wall.kind === 'seconds' ? wall.seconds : null, priority, description: c[3]! };
  });
}

export function parseAssociations(output: string): ParseResult<AssociationRow[]> {
  return parseRows(output, 4, 'Account|Partition|QOS|DefaultQOS', (c) => ({
    account: c[0]!,
    partition: c[1] || null,
    qos: c[2] ? c[2].split(',').map((q) => q.trim()).filter(Boolean) : [],
    defaultQos: c[3] || null,
  }));
}

/** The default account from `show user NAME format=User,DefaultAccount`; null when the user has none. */
export function parseDefaultAccount(output: string): string | null {
  for (const line of outputLines(output)) {
    const c = columns(line, 2);
    if (c && c[1]) return c[1];
  }
  return null;
}

type Exec = (argv: string[], opts: { timeoutMs: number }) => Promise<{ code: number | null; stdout: string; stderr: string }>;

export interface Accounting {
  user: string;
  /** False when the cluster has no accounting database (sacctmgr fails): accounts and QOS are then unknown. */
  available: boolean;
  message: string | null;
  accounts: { name: string; isDefault: boolean; partitions: string[]; qos: string[]; defaultQos: string | null }[];
  /** The QOS the user may use (every QOS when no association restricts them). */
  qos: QosRow[];
}

/** Reads the user's accounts and usable QOS over a cluster session: `id -un`, then three sacctmgr queries. */
export async function readAccounting(exec: Exec): Promise<Accounting> {
  const who = await exec(['id', '-un'], { timeoutMs: 30_000 });
  const user = who.stdout.trim();
  if (who.code !== 0 || !USER_NAME.test(user)) throw new Error(`cannot tell the remote user: ${who.stderr.trim() || `id -un printed ${JSON.stringify(user)}`}`);
  const [q, a, u] = await Promise.all([
    exec(sacctmgrQosCommand(), { timeoutMs: 30_000 }),
    exec(sacctmgrAssociationsCommand(user), { timeoutMs: 30_000 }),
    exec(sacctmgrUserCommand(user), { timeoutMs: 30_000 }),
  ]);
  const failed = [q, a].find((r) => r.code !== 0);
  if (failed) {
    const message = failed.stderr.trim().split('\n')[0] || `sacctmgr exited with ${failed.code}`;
    return { user, available: false, message, accounts: [], qos: [] };
  }
  const qos = parseQos(q.stdout);
  const assoc = parseAssociations(a.stdout);
  if (!qos.ok || !assoc.ok) {
    const e = !qos.ok ? qos.error : !assoc.ok ? assoc.error : undefined;
    return { user, available: false, message: e?.message ?? 'unreadable sacctmgr output', accounts: [], qos: [] };
  }
  const defaultAccount = u.code === 0 ? parseDefaultAccount(u.stdout) : null;
  const byAccount = new Map<string, Accounting['accounts'][number]>();
  for (const r of assoc.value) {
    const acc = byAccount.get(r.account) ?? { name: r.account, isDefault: r.account === defaultAccount, partitions: [], qos: [], defaultQos: null };
    if (r.partition && !acc.partitions.includes(r.partition)) acc.partitions.push(r.partition);
    for (const x of r.qos) if (!acc.qos.includes(x)) acc.qos.push(x);
    acc.defaultQos ??= r.defaultQos;
    byAccount.set(r.account, acc);
  }
  const allowed = new Set([...byAccount.values()].flatMap((x) => x.qos));
  const usable = allowed.size ? qos.value.filter((x) => allowed.has(x.name)) : qos.value;
  return { user, available: true, message: null, accounts: [...byAccount.values()], qos: usable };
}
