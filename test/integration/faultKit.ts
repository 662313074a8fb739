// Tools for the fault-survival tests (faults.test.ts): break the local test
// cluster (test/cluster/up.sh) in the ways a real one breaks, bring it back,
// and read what a user would notice from the outside: SLURM's own records
// (as root, no daemon involved) and the SSH server's log.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterDir } from './clusterEnv';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const sshdLogFile = () => path.join(clusterDir(), 'ssh', 'sshd.log');
export const sshdPidFile = () => path.join(clusterDir(), 'ssh', 'sshd.pid');
export const SLURMCTLD_PID = '/run/slurm/slurmctld.pid';
export const SLURMDBD_PID = '/run/slurm/slurmdbd.pid';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `bash test/cluster/up.sh` (no smoke job): starts whatever is not running. Throws with its output on failure. */
export async function clusterUp(): Promise<void> {
  const r = await run('bash', [path.join(repoRoot, 'test', 'cluster', 'up.sh')], { env: { ...process.env, SMOKE: '0' }, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`test/cluster/up.sh failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
}

// ------------------------------------------------------------------ processes

function readPid(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Exists, is not a zombie (PID 1 reaps late here) and, if given, has this comm. */
export function procAlive(pid: number, comm?: string): boolean {
  try {
    if (comm !== undefined && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return false;
    const st = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return st !== undefined && st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function allPids(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

export function childrenOf(pid: number): number[] {
  return allPids().filter((p) => parentOf(p) === pid);
}

function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const c of childrenOf(pid)) out.push(c, ...descendantsOf(c));
  return out;
}

function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/** The inode of the established TCP socket with this local and remote port (IPv4 or IPv6 table). */
function tcpInode(localPort: number, remotePort: number): string | undefined {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const lp = parseInt(f[1]!.split(':')[1]!, 16);
      const rp = parseInt(f[2]!.split(':')[1]!, 16);
      if (lp === localPort && rp === remotePort && f[3] === '01') return f[9];
    }
  }
  return undefined;
}

/**
 * The sshd processes serving one connection: the per-connection child of the
 * listener (`sshd: hpcuser [priv]`) holding the server side of the TCP
 * connection from clientPort, and its descendants (`sshd: hpcuser@notty`, sftp).
 */
export function sshdSessionPids(sshPort: number, clientPort: number): number[] {
  const listener = readPid(sshdPidFile());
  if (listener === null || !procAlive(listener, 'sshd')) throw new Error(`the test sshd listener is not running (${sshdPidFile()})`);
  const inode = tcpInode(sshPort, clientPort);
  if (inode === undefined) throw new Error(`no established connection 127.0.0.1:${clientPort} -> :${sshPort}`);
  for (const child of childrenOf(listener)) {
    const tree = [child, ...descendantsOf(child)];
    if (tree.some((p) => socketInodes(p).has(inode))) return tree.filter((p) => procAlive(p));
  }
  throw new Error(`no sshd child of the listener (pid ${listener}) holds the connection from port ${clientPort}`);
}

/** SIGTERM the daemon named in a pid file (only if it is `comm`) and wait until it is gone. Returns its pid. */
export async function stopByPidFile(file: string, comm: string, timeoutMs = 30_000): Promise<number> {
  const pid = readPid(file);
  if (pid === null || !procAlive(pid, comm)) throw new Error(`${comm} is not running (pid file ${file})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (procAlive(pid, comm)) {
    if (Date.now() > deadline) throw new Error(`${comm} (pid ${pid}) did not exit within ${timeoutMs} ms of SIGTERM`);
    await sleep(50);
  }
  return pid;
}

// ------------------------------------------------------------------ the SSH server's view

/** Client ports of the logins the test sshd accepted with the key of this fingerprint, oldest first. */
export function acceptedLogins(fingerprint: string): number[] {
  const text = fs.readFileSync(sshdLogFile(), 'utf8');
  const re = /Accepted publickey for \S+ from \S+ port (\d+) ssh2: \S+ (SHA256:\S+)/g;
  const ports: number[] = [];
  for (const m of text.matchAll(re)) if (m[2] === fingerprint) ports.push(Number(m[1]));
  return ports;
}

/** Counts the SSH logins one scenario caused; `cap` is what the daemon's limit allows in that time. */
export class LoginCounter {
  private readonly start = Date.now();
  private readonly before: number;
  constructor(private readonly fingerprint: string) {
    this.before = acceptedLogins(fingerprint).length;
  }
  get count(): number {
    return acceptedLogins(this.fingerprint).length - this.before;
  }
  get seconds(): number {
    return (Date.now() - this.start) / 1000;
  }
  /** The initial connection plus at most 2 new ones per started minute. */
  get cap(): number {
    return 1 + 2 * Math.ceil((Date.now() - this.start) / 60_000);
  }
}

// ------------------------------------------------------------------ what SLURM itself says

/** sacct's --starttime in local time (what sacct reads). */
export function sacctTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface SlurmRecord {
  jobId: string;
  state: string;
  exitCode: number;
  signal: number;
  end: string;
  workDir: string;
}

/** Allocation rows (-X) of these jobs (array tasks one row each), as root. */
export async function sacctRows(ids: string[]): Promise<SlurmRecord[]> {
  const r = await run('sacct', ['-n', '-X', '-P', '-a', `-j`, ids.join(','), '-o', 'JobID,State,ExitCode,End,WorkDir']);
  if (r.code !== 0) throw new Error(`sacct failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [jobId, state, exit, end, workDir] = l.split('|');
      const [code, sig] = (exit ?? '0:0').split(':').map(Number);
      // "CANCELLED by 0" -> CANCELLED
      return { jobId: jobId!, state: state!.split(' ')[0]!, exitCode: code!, signal: sig!, end: end!, workDir: workDir ?? '' };
    });
}

/** The final accounting records of plain jobs, waiting out sacct's placeholder rows. */
export async function slurmFinal(ids: string[], timeoutMs = 60_000): Promise<Map<string, SlurmRecord>> {
  const deadline = Date.now() + timeoutMs;
  let rows: SlurmRecord[] = [];
  for (;;) {
    rows = await sacctRows(ids);
    const final = rows.filter((r) => r.end !== 'Unknown' && r.end !== '');
    if (ids.every((id) => final.some((r) => r.jobId === id))) return new Map(final.map((r) => [r.jobId, r]));
    if (Date.now() > deadline) throw new Error(`sacct has no final rows for ${ids.join(',')} after ${timeoutMs} ms: ${JSON.stringify(rows)}`);
    await sleep(500);
  }
}

/**
 * The SLURM jobs (base ids) that ran or run in this working directory, by
 * squeue (recent, any user) and sacct (since `since`), as root.
 */
export async function slurmJobsInDir(dir: string, since: Date): Promise<string[]> {
  const ids = new Set<string>();
  const q = await run('squeue', ['-h', '-a', '-t', 'all', '-o', '%i|%Z']);
  if (q.code !== 0) throw new Error(`squeue failed: ${q.stderr}`);
  const sa = await run('sacct', ['-n', '-X', '-P', '-a', `--starttime=${sacctTime(since)}`, '-o', 'JobID,WorkDir']);
  if (sa.code !== 0) throw new Error(`sacct failed: ${sa.stderr}`);
  for (const line of [...q.stdout.split('\n'), ...sa.stdout.split('\n')]) {
    const i = line.indexOf('|');
    if (i < 0 || line.slice(i + 1) !== dir) continue;
    ids.add(line.slice(0, i).replace(/_.*$/, ''));
  }
  return [...ids].sort();
}

// ------------------------------------------------------------------ a slow sbatch for one submit

/**
 * Makes sbatch answer slowly for one submit only: a wrapper first on
 * hpcuser's PATH for commands sshd runs (Debian's bash reads ~/.bashrc for
 * them; the line goes before its "not interactive: return"), active while a
 * flag file exists, and slow only for an sbatch whose arguments contain the
 * marker written in that flag (other users of the cluster are not slowed).
 */
export class SlowSbatch {
  readonly home: string;
  readonly dir: string;
  readonly flag: string;
  private readonly bashrc: string;
  private readonly backup: string;

  constructor(readonly user: string) {
    this.home = execHome(user);
    this.dir = path.join(this.home, '.slurm-ml-test');
    this.flag = path.join(this.dir, 'slow-sbatch');
    this.bashrc = path.join(this.home, '.bashrc');
    this.backup = path.join(this.dir, 'bashrc.orig');
  }

  install(marker: string, delayS: number): void {
    this.restore(); // a run that died half-way
    const { uid, gid } = fs.statSync(this.home);
    fs.mkdirSync(path.join(this.dir, 'bin'), { recursive: true });
    const wrapper = path.join(this.dir, 'bin', 'sbatch');
    fs.writeFileSync(
      wrapper,
      [
        '#!/bin/bash',
        '# slurm-ml faults test: the real sbatch, then a slow exit for the marked submit.',
        '/usr/bin/sbatch "$@"',
        'rc=$?',
        'marker=$(cat "$HOME/.slurm-ml-test/slow-sbatch" 2>/dev/null)',
        `if [ -n "$marker" ]; then case " $* " in *"$marker"*) sleep ${delayS} ;; esac; fi`,
        'exit $rc',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    for (const p of [this.dir, path.join(this.dir, 'bin'), wrapper]) fs.chownSync(p, uid, gid);
    const original = fs.readFileSync(this.bashrc, 'utf8');
    fs.writeFileSync(this.backup, original);
    const line = '[ -e "$HOME/.slurm-ml-test/slow-sbatch" ] && PATH="$HOME/.slurm-ml-test/bin:$PATH" # slurm-ml faults test\n';
    const at = original.indexOf("# If not running interactively, don't do anything");
    // Written in place: the file keeps its owner and mode.
    fs.writeFileSync(this.bashrc, at < 0 ? line + original : original.slice(0, at) + line + original.slice(at));
    fs.writeFileSync(this.flag, marker + '\n');
  }

  disarm(): void {
    fs.rmSync(this.flag, { force: true });
  }

  /** Puts back the original .bashrc and removes the wrapper; safe to call when nothing is installed. */
  restore(): void {
    this.disarm();
    if (fs.existsSync(this.backup)) {
      fs.writeFileSync(this.bashrc, fs.readFileSync(this.backup));
      fs.rmSync(this.backup);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The user's home directory from /etc/passwd (the cluster is this machine: its files can be watched directly). */
export function execHome(user: string): string {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  const home = line?.split(':')[5];
  if (!home) throw new Error(`no home directory for ${user}`);
  return home;
}

// ------------------------------------------------------------------ a key of our own

/**
 * An SSH key used only by this test file's daemons, so that their logins can
 * be told apart in the sshd log from those of anyone else using the cluster.
 */
export class TestKey {
  readonly file: string;
  fingerprint = '';
  private readonly comment = `slurm-ml-faults-${process.pid}-${Date.now()}`;
  private authorizedKeys = '';

  constructor(dir: string) {
    this.file = path.join(dir, 'id_faults');
  }

  async authorize(user: string): Promise<void> {
    const g = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', this.comment, '-f', this.file]);
    if (g.code !== 0) throw new Error(`ssh-keygen failed: ${g.stderr}`);
    const fp = await run('ssh-keygen', ['-lf', `${this.file}.pub`]);
    this.fingerprint = fp.stdout.split(/\s+/)[1] ?? '';
    if (!this.fingerprint.startsWith('SHA256:')) throw new Error(`no fingerprint: ${fp.stdout}${fp.stderr}`);
    this.authorizedKeys = path.join(execHome(user), '.ssh', 'authorized_keys');
    fs.appendFileSync(this.authorizedKeys, fs.readFileSync(`${this.file}.pub`, 'utf8'));
  }

  revoke(): void {
    if (!this.authorizedKeys) return;
    const lines = fs.readFileSync(this.authorizedKeys, 'utf8').split('\n');
    const kept = lines.filter((l) => !l.includes(this.comment));
    if (kept.length !== lines.length) fs.writeFileSync(this.authorizedKeys, kept.join('\n'));
  }
}
