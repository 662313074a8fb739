// #SBATCH options for completion and hover, without VS Code: which option or
// value the cursor is in, what to offer there, and each option's documentation
// (summarised from `man sbatch`, SLURM 22.05). The option set is the daemon's
// directive parser's, so nothing is offered that sbatch would reject.
import { SBATCH_OPTIONS, type OptSpec } from '../../daemon/slurm/directives';

export interface OptionDoc {
  /** The value's form, as in the man page: `<time>`, `<name>`. */
  value?: string;
  summary: string;
  /** Values to offer for the option, when they are a fixed set. */
  values?: readonly string[];
}

/** Options whose values come from the cluster. */
export type ClusterValueKind = 'partition' | 'qos' | 'account';

const clusterValues: Record<string, ClusterValueKind> = { partition: 'partition', qos: 'qos', account: 'account' };

const TIME_FORMS = 'minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS';

export const OPTION_DOCS: Readonly<Record<string, OptionDoc>> = {
  account: { value: '<account>', summary: 'Charge the job\'s resources to this account (a bank account of your group in the accounting database). Without it, your default account is used.' },
  array: { value: '<indexes>', summary: 'Submit a job array: `0-15`, `1,3,5-7`, a step `0-15:4`, and `%N` to run at most N tasks at once (`1-100%10`). Each task gets `SLURM_ARRAY_TASK_ID`.' },
  begin: { value: '<time>', summary: 'Defer the start until the given time: `16:00`, `now+1hour`, `2026-01-20T12:34:00`, `tomorrow`.' },
  chdir: { value: '<directory>', summary: 'Working directory of the batch script before it runs (default: the directory sbatch was run from).' },
  comment: { value: '<string>', summary: 'An arbitrary comment stored with the job (slurm-ml stores the run\'s id here).' },
  constraint: { value: '<list>', summary: 'Node features the job needs, e.g. `a100`, `skylake&ib`, `[rack1|rack2]`.' },
  'cpus-per-gpu': { value: '<ncpus>', summary: 'CPUs per allocated GPU.' },
  'cpus-per-task': { value: '<ncpus>', summary: 'CPUs for each task (threads of a multi-threaded program). Sets `SLURM_CPUS_PER_TASK`.' },
  deadline: { value: '<time>', summary: 'Remove the job if it cannot end before this time.' },
  dependency: { value: '<list>', summary: 'Start only after other jobs: `afterok:123`, `afterany:123:124`, `afternotok:123`, `singleton`.' },
  error: { value: '<file pattern>', summary: 'File for the job\'s stderr (default: with stdout). `%j` is the job id, `%x` the job name, `%A`/`%a` array job and task id.' },
  exclude: { value: '<nodelist>', summary: 'Nodes not to run on.' },
  exclusive: { value: '[=user|mcs]', summary: 'Do not share the allocated nodes with other jobs (takes a value only with `=`).' },
  export: { value: '<ALL|NONE|vars>', summary: 'Which environment variables reach the job: `ALL` (default), `NONE`, or a list `ALL,FOO=bar`.', values: ['ALL', 'NONE'] },
  gpus: { value: '[type:]<number>', summary: 'GPUs for the whole job, e.g. `2` or `a100:2`.' },
  'gpus-per-node': { value: '[type:]<number>', summary: 'GPUs on each allocated node.' },
  'gpus-per-task': { value: '[type:]<number>', summary: 'GPUs for each task.' },
  gres: { value: '<list>', summary: 'Generic resources per node, e.g. `gpu:2`, `gpu:a100:1`.' },
  hint: { value: '<type>', summary: 'Task binding hint.', values: ['compute_bound', 'memory_bound', 'multithread', 'nomultithread'] },
  hold: { summary: 'Submit the job held (priority 0); release it with `scontrol release`.' },
  input: { value: '<file pattern>', summary: 'File connected to the script\'s stdin (default `/dev/null`).' },
  'job-name': { value: '<name>', summary: 'The job\'s name, shown by squeue and sacct (default: the script\'s file name). Runtime estimates from history match on it.' },
  licenses: { value: '<license>[:n]', summary: 'Licenses the job needs, e.g. `matlab:1`.' },
  'mail-type': { value: '<type>', summary: 'When to e-mail the user: `BEGIN`, `END`, `FAIL`, `ALL`, `TIME_LIMIT_80`…', values: ['NONE', 'BEGIN', 'END', 'FAIL', 'REQUEUE', 'ALL', 'INVALID_DEPEND', 'STAGE_OUT', 'TIME_LIMIT', 'TIME_LIMIT_90', 'TIME_LIMIT_80', 'TIME_LIMIT_50', 'ARRAY_TASKS'] },
  'mail-user': { value: '<address>', summary: 'Address for the mails of `--mail-type` (default: the submitting user).' },
  mem: { value: '<size>[K|M|G|T]', summary: 'Real memory per node (default unit: megabytes), e.g. `16G`. `0` asks for all memory of the node. Exclusive with `--mem-per-cpu` and `--mem-per-gpu`. A job that exceeds it ends OUT_OF_MEMORY.' },
  'mem-per-cpu': { value: '<size>[K|M|G|T]', summary: 'Memory per allocated CPU (default unit: megabytes).' },
  'mem-per-gpu': { value: '<size>[K|M|G|T]', summary: 'Memory per allocated GPU (default unit: megabytes).' },
  mincpus: { value: '<n>', summary: 'Minimum number of logical CPUs per node.' },
  nice: { value: '[=adjustment]', summary: 'Lower the job\'s priority by the adjustment (takes a value only with `=`).' },
  'no-requeue': { summary: 'Never requeue the job (after a node failure or preemption).' },
  nodelist: { value: '<nodelist>', summary: 'Run on (at least) these nodes, e.g. `node[1-4]`.' },
  nodes: { value: '<min>[-max]', summary: 'Number of nodes, or a range. Default: enough for the tasks and CPUs asked for.' },
  ntasks: { value: '<n>', summary: 'Number of tasks (MPI ranks) the job will launch with `srun`.' },
  'ntasks-per-node': { value: '<n>', summary: 'Tasks on each node.' },
  'open-mode': { value: '<append|truncate>', summary: 'How output and error files are opened.', values: ['append', 'truncate'] },
  output: { value: '<file pattern>', summary: 'File for the job\'s stdout (default `slurm-%j.out` in the submission directory). `%j` job id, `%x` job name, `%A`/`%a` array job and task id.' },
  oversubscribe: { summary: 'Allow the allocation to be shared with other jobs.' },
  partition: { value: '<partition>', summary: 'The partition (queue) to run in; a list lets SLURM choose the one that starts first. Without it, the cluster\'s default partition is used.' },
  priority: { value: '<value>', summary: 'Request a job priority (administrators only).' },
  propagate: { value: '[=rlimit,…]', summary: 'Which resource limits of the submitting shell propagate to the job.' },
  qos: { value: '<qos>', summary: 'Quality of service: sets priority and limits (e.g. a maximum wall time). Without it, your association\'s default QOS is used.' },
  requeue: { summary: 'Allow the job to be requeued (after a node failure or preemption).' },
  reservation: { value: '<name>', summary: 'Run inside this advanced reservation.' },
  signal: { value: '[B:]<sig>[@time]', summary: 'Send a signal before the time limit, e.g. `B:USR1@120` sends SIGUSR1 to the batch shell 120 s before the end (to checkpoint).' },
  time: { value: '<time>', summary: `The time limit: ${TIME_FORMS}, or \`UNLIMITED\`. A job still running at the limit is killed and ends TIMEOUT. Ask for a little more than you need: a shorter limit starts sooner (backfill).` },
  'time-min': { value: '<time>', summary: `A minimum time limit: SLURM may lower --time down to it to start the job sooner (${TIME_FORMS}).` },
  tmp: { value: '<size>[K|M|G|T]', summary: 'Minimum temporary disk space per node.' },
  wait: { summary: 'sbatch returns only when the job has ended (its exit status).' },
  'wait-all-nodes': { value: '<0|1>', summary: 'Start the script only when all nodes are ready (1) or at once (0).', values: ['0', '1'] },
  wckey: { value: '<wckey>', summary: 'Workload characterization key, for accounting.' },
  wrap: { value: '<command>', summary: 'Wrap a command string in a `sh` script (command line only, meaningless in a script).' },
};

export interface SbatchOption extends Readonly<OptSpec> {
  doc: OptionDoc;
  /** Its values come from the cluster. */
  clusterValue?: ClusterValueKind;
}

const OPTIONS: readonly SbatchOption[] = SBATCH_OPTIONS.filter((o) => !o.alias).map((o) => ({
  ...o,
  doc: OPTION_DOCS[o.name] ?? { summary: `See \`man sbatch\` for --${o.name}.` },
  ...(clusterValues[o.name] ? { clusterValue: clusterValues[o.name] } : {}),
}));
const BY_LONG = new Map<string, SbatchOption>(OPTIONS.map((o) => [o.name, o]));
const BY_SHORT = new Map<string, SbatchOption>(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));

export function sbatchOptions(): readonly SbatchOption[] {
  return OPTIONS;
}

/** An option by its long name (or the one an alias stands for) or its short letter. */
export function findOption(name: string): SbatchOption | undefined {
  if (name.length === 1) return BY_SHORT.get(name);
  const alias = SBATCH_OPTIONS.find((o) => o.name === name && o.alias);
  return BY_LONG.get(alias?.alias ?? name);
}

/** Markdown for a hover or a completion item. */
export function optionMarkdown(o: SbatchOption): string {
  const forms = [`--${o.name}${o.arg === 'required' ? `=${o.doc.value ?? '<value>'}` : o.arg === 'optional' ? (o.doc.value ?? '[=value]') : ''}`];
  if (o.short) forms.push(`-${o.short}${o.arg === 'required' ? ` ${o.doc.value ?? '<value>'}` : ''}`);
  const values = o.doc.values ? `\n\nValues: ${o.doc.values.map((v) => `\`${v}\``).join(', ')}` : '';
  const cluster = o.clusterValue ? `\n\nCompletion offers the ${o.clusterValue === 'qos' ? 'QOS' : `${o.clusterValue}s`} of the cluster.` : '';
  return `**#SBATCH ${forms.join(', ')}**\n\n${o.doc.summary}${values}${cluster}`;
}

/** True for a line sbatch reads as a directive: `#SBATCH` at column 1. */
function isDirectiveLine(line: string): boolean {
  return /^#SBATCH(\s|$)/.test(line);
}

/** Whether line `index` is inside the directive block (before the first command). */
export function inDirectiveBlock(lines: readonly string[], index: number): boolean {
  if (!isDirectiveLine(lines[index] ?? '')) return false;
  for (let i = 0; i < index; i++) {
    const t = (lines[i] ?? '').trim();
    if (i === 0 && t.startsWith('#!')) continue;
    // Handlebars lines of a template ({{#if}}, {{/if}}, the header) are not commands of the rendered script.
    if (t && !t.startsWith('#') && !t.startsWith('{{')) return false;
  }
  return true;
}

export type CompletionSpot =
  | { kind: 'option'; start: number; end: number; typed: string }
  | { kind: 'value'; option: SbatchOption; start: number; end: number; typed: string };

/**
 * What the cursor at `character` on a directive line is completing: an option
 * word (`--par`, `-`), or the value of the option before it (`--partition=de`,
 * `-p de`, `--qos lo`). Undefined elsewhere (in a comment, a plain word).
 */
export function completionSpot(line: string, character: number): CompletionSpot | undefined {
  if (!isDirectiveLine(line) || character < 7) return undefined;
  const before = line.slice(0, character);
  // An unquoted # after the directive starts a comment.
  if (before.slice(7).includes('#')) return undefined;
  const wordStart = before.search(/\S*$/);
  const word = before.slice(wordStart);
  const rest = /^\S*/.exec(line.slice(character))![0];
  const end = character + rest.length;
  const eq = /^--([A-Za-z-]+)=(.*)$/.exec(word);
  if (eq) {
    const option = findOption(eq[1]!);
    if (!option || option.arg === 'none') return undefined;
    const start = wordStart + 3 + eq[1]!.length;
    return { kind: 'value', option, start, end, typed: eq[2]! };
  }
  const shortAttached = /^-([A-Za-z])(.+)$/.exec(word);
  if (shortAttached) {
    const option = findOption(shortAttached[1]!);
    if (option && option.arg === 'required') return { kind: 'value', option, start: wordStart + 2, end, typed: shortAttached[2]! };
    return undefined;
  }
  if (word === '' || word.startsWith('-')) {
    // A value given as the next word: `--partition de`, `-p de`.
    const prev = /(?:^|\s)(--?[A-Za-z-]+)\s+$/.exec(before.slice(0, wordStart));
    if (word === '' && prev) {
      const p = prev[1]!;
      const option = p.startsWith('--') ? findOption(p.slice(2)) : p.length === 2 ? findOption(p.slice(1)) : undefined;
      if (option?.arg === 'required') return { kind: 'value', option, start: wordStart, end, typed: '' };
    }
    return { kind: 'option', start: wordStart, end, typed: word };
  }
  const prev = /(?:^|\s)(--?[A-Za-z-]+)\s+$/.exec(before.slice(0, wordStart));
  if (prev) {
    const p = prev[1]!;
    const option = p.startsWith('--') ? findOption(p.slice(2)) : p.length === 2 ? findOption(p.slice(1)) : undefined;
    if (option?.arg === 'required') return { kind: 'value', option, start: wordStart, end, typed: word };
  }
  return undefined;
}

/** The option named by the word under `character` on a directive line, with the word's range. */
export function optionAt(line: string, character: number): { option: SbatchOption; start: number; end: number } | undefined {
  if (!isDirectiveLine(line)) return undefined;
  const re = /--?[A-Za-z][A-Za-z-]*/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const start = m.index;
    if (start > 0 && !/\s/.test(line[start - 1]!)) continue; // inside a value, e.g. a path
    const end = start + m[0].length;
    if (character < start || character > end) continue;
    const name = m[0].startsWith('--') ? m[0].slice(2) : m[0].slice(1, 2);
    const option = findOption(name);
    return option ? { option, start, end: m[0].startsWith('--') ? end : start + 2 } : undefined;
  }
  return undefined;
}
