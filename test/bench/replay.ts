// A RemoteSession that answers squeue from recorded real rows, for job counts
// the local cluster cannot hold (MaxJobCount) or submit quickly. A recorded
// row becomes a template: the columns that held the recorded job id take the
// id asked for, everything else is the row as SLURM printed it.
import { FIELD_SEPARATOR } from '../../daemon/slurm/commands';
import { shellCommand } from '../../daemon/ssh/quote';
import type { ExecResult, RemoteSession } from '../../daemon/connections';

export interface RowTemplate {
  /** One line of real output, without its newline. */
  line: string;
  /** The job id that line is about (its first column). */
  id: string;
  /** Where the line came from, for the report. */
  source: string;
}

/** Makes rows for other job ids from one recorded row. */
export function rowMaker(t: RowTemplate): (id: string) => string {
  const cols = t.line.split(FIELD_SEPARATOR);
  const idColumns = cols.flatMap((c, i) => (c.trim() === t.id ? [i] : []));
  if (idColumns[0] !== 0) throw new Error(`the recorded row from ${t.source} does not start with its job id ${t.id}`);
  return (id) => {
    const c = cols.slice();
    for (const i of idColumns) c[i] = id;
    return c.join(FIELD_SEPARATOR);
  };
}

/** The first row of recorded output, as a template. */
export function firstRow(output: string, source: string): RowTemplate {
  const line = output.split('\n').find((l) => l.trim() !== '');
  if (line === undefined) throw new Error(`no rows in ${source}`);
  return { line, id: line.split(FIELD_SEPARATOR)[0]!.trim(), source };
}

type Tool = 'squeue' | 'squeue --Format' | 'sacct' | 'scontrol' | 'other';

export function toolOf(argv: readonly string[]): Tool {
  if (argv.includes('squeue')) return argv.some((a) => a.startsWith('--Format=')) ? 'squeue --Format' : 'squeue';
  if (argv.includes('sacct')) return 'sacct';
  if (argv.includes('scontrol')) return 'scontrol';
  return 'other';
}

const ok = (stdout: string): ExecResult => ({ code: 0, signal: null, stdout, stderr: '' });

export class ReplaySession implements RemoteSession {
  readonly hostKeyFingerprint: string | undefined = undefined;
  /** Commands asked for, by tool. */
  readonly calls: Tool[] = [];
  /** Outputs that had to be built during a cycle (not prepared ahead): should stay 0. */
  built = 0;
  private readonly outputs = new Map<string, string>();

  constructor(
    private readonly squeueRow: (id: string) => string,
    private readonly pathsRow: (id: string) => string,
  ) {}

  /** Builds the answers for this job list ahead, so building them is not part of what is measured. */
  prepare(ids: readonly string[]): void {
    const list = ids.join(',');
    this.outputs.set(`squeue ${list}`, this.build('squeue', ids));
    this.outputs.set(`squeue --Format ${list}`, this.build('squeue --Format', ids));
  }

  private build(tool: Tool, ids: readonly string[]): string {
    const row = tool === 'squeue' ? this.squeueRow : this.pathsRow;
    return ids.map(row).join('\n') + '\n';
  }

  async exec(argv: string[]): Promise<ExecResult> {
    // The quoting the real session does for every command.
    shellCommand(argv);
    const tool = toolOf(argv);
    this.calls.push(tool);
    const jobs = argv.find((a) => a.startsWith('--jobs='))?.slice('--jobs='.length);
    if ((tool === 'squeue' || tool === 'squeue --Format') && jobs !== undefined) {
      let out = this.outputs.get(`${tool} ${jobs}`);
      if (out === undefined) {
        this.built++;
        out = this.build(tool, jobs.split(','));
      }
      return ok(out);
    }
    // Every followed job is in squeue, so nothing should need accounting or the controller.
    if (tool === 'sacct') return ok('');
    if (tool === 'scontrol') return { code: 1, signal: null, stdout: '', stderr: 'slurm_load_jobs error: Invalid job id specified\n' };
    return { code: 127, signal: null, stdout: '', stderr: `bench replay: not a replayed command: ${argv.join(' ')}\n` };
  }

  async homeDir(): Promise<string> {
    return '/home/bench';
  }

  writeFile(): Promise<void> {
    return Promise.reject(new Error('bench replay: no files'));
  }

  mkdirp(): Promise<void> {
    return Promise.reject(new Error('bench replay: no files'));
  }

  readRange(): Promise<Buffer> {
    return Promise.reject(new Error('bench replay: no files'));
  }

  stat(): Promise<{ size: number; mtime: number }> {
    return Promise.reject(new Error('bench replay: no files'));
  }
}
