// `#SBATCH` directives of a batch script, read the way sbatch (22.05) reads
// them, plus the options given to sbatch on its command line. Shared by
// runtime estimation (what the job asks for) and editor diagnostics (what
// sbatch would reject or silently ignore, with exact positions).
//
// How sbatch reads a script (src/sbatch/opt.c, _opt_batch_script and
// get_argument):
// - A directive line starts with exactly `#SBATCH` at column 1 (case matters;
//   `##SBATCH`, `# SBATCH`, `  #SBATCH` and `#sbatch` are plain comments).
// - Directives are read until the first line whose first non-blank character
//   is not `#` (the first command). Blank lines and comments do not end the
//   block; the shebang is a comment.
// - The rest of a directive line is split into words like a shell would do it
//   in the simplest way: blanks separate words, '…' and "…" group, a backslash
//   escapes a quote, `#` or backslash (but an unquoted blank still ends the
//   word: `a\ b` is two words), and an unquoted, unescaped `#` starts a
//   comment (even in a word: `--output=a#b` is `--output=a`). An empty word
//   (`""`) ends the line.
// - The words of all directive lines form ONE argument vector that getopt_long
//   reads, so `--time 10` works and a value may even sit on the next line.
//   A word that is not an option is fatal ("Invalid directive found in batch
//   script"); long options may be abbreviated to any unambiguous prefix;
//   options with an optional argument (`--exclusive`, `--nice`, …) only take
//   it with `=` (or attached, for short ones).
// - The word `hetjob` (or the old `packjob`) is dropped; as the first word of
//   a directive line it starts the next heterogeneous-job component.
// Checked against `sbatch -v --test-only` of slurm 22.05.8.
// - Options on the command line are read after the script's and win.
// - sbatch also rejects the whole script when it is empty, is only blanks,
//   does not start with `#!`, contains a NUL character or contains `\r\n`.
//
// Positions: lines and columns are 1-based; columns count UTF-16 code units
// (as JS strings and editors do) in the text without a leading byte-order
// mark and without the `\r` of a `\r\n`. Command-line directives and problems
// have line 0 and column = 1-based index of the argument in commandLineArgs.

import { parseArraySpec, countArrayTasks } from './jobid';
import { parseSlurmDurationDetailed } from './time';

export type DirectiveSource = 'script' | 'command-line';

export interface Directive {
  /** Canonical long option name without dashes: `time` for `-t`, `--time`, `--ti`. */
  option: string;
  /** The text as written: `-t 10`, `--job-name="my job"` (option and its value). */
  raw: string;
  /** The value after unquoting; null for a flag or an optional value not given. */
  value: string | null;
  line: number;
  column: number;
  /** Exclusive end column of the option word. */
  endColumn: number;
  /** Where the value is: may be the next word, even on a later line. Null without a value. */
  valueLine: number | null;
  valueColumn: number | null;
  valueEndColumn: number | null;
  source: DirectiveSource;
  /** Heterogeneous-job component (0 unless the script has `#SBATCH hetjob` lines). */
  component: number;
  /** False when a later directive (or the command line) sets the same option, or it is not in component 0. */
  effective: boolean;
}

export interface Problem {
  line: number;
  column: number;
  /** Exclusive; > column. */
  endColumn: number;
  severity: 'error' | 'warning';
  message: string;
  /** Canonical long option name, when the problem is about one. */
  option?: string;
  source?: DirectiveSource;
}

export type Exclusive = 'node' | 'user' | 'mcs' | 'topo';

export interface SbatchRequest {
  /** --time in seconds, rounded up to whole minutes as SLURM does; null when unset or unlimited. */
  timeLimitSeconds: number | null;
  /** --time=0, -1, UNLIMITED or infinite. */
  timeUnlimited: boolean;
  timeMinSeconds: number | null;
  nodes: { min: number; max: number } | null;
  ntasks: number | null;
  ntasksPerNode: number | null;
  cpusPerTask: number | null;
  /** Tasks the job will have: --ntasks, else nodes × --ntasks-per-node, else one per node (min nodes), else 1. */
  effectiveTasks: number;
  /** effectiveTasks × cpusPerTask (1 when unset); a lower bound. */
  totalCpus: number;
  /** --mem, per node, in MB (K rounds up). 0 means all the memory of each node (see memAllOfNode). */
  memMB: number | null;
  memAllOfNode: boolean;
  memPerCpuMB: number | null;
  memPerGpuMB: number | null;
  /** Total GPUs: --gpus, else --gpus-per-node × min nodes, else --gpus-per-task × tasks, else --gres=gpu × min nodes. */
  gpus: number | null;
  /** The GPU type of the form gpus came from (`a100` in --gres=gpu:a100:2). */
  gpuType: string | null;
  gpusPerNode: number | null;
  gpusPerTask: number | null;
  gres: string | null;
  partition: string | null;
  qos: string | null;
  account: string | null;
  jobName: string | null;
  array: { spec: string; taskCount: number | null; throttle: number | null } | null;
  output: string | null;
  error: string | null;
  input: string | null;
  chdir: string | null;
  constraint: string | null;
  nodelist: string | null;
  exclude: string | null;
  exclusive: Exclusive | null;
  dependency: string | null;
  begin: string | null;
  deadline: string | null;
  reservation: string | null;
  mailType: string | null;
  mailUser: string | null;
  licenses: string | null;
  tmpMB: number | null;
  /** --requeue true, --no-requeue false. */
  requeue: boolean | null;
  hold: boolean;
  /** 1, or the number of components of a heterogeneous job (the fields describe the first). */
  hetComponents: number;
}

export interface DirectivesResult {
  request: SbatchRequest;
  directives: Directive[];
  problems: Problem[];
  /** The effective value of every option set (component 0): canonical long name -> value (null for flags). */
  options: Record<string, string | null>;
}

// ---------------------------------------------------------------------------
// Options of sbatch 22.05 (man sbatch), plus a few later versions added.

type ArgKind = 'required' | 'optional' | 'none';

export interface OptSpec {
  name: string;
  short?: string;
  arg: ArgKind;
  /** Canonical name when this is an alias. */
  alias?: string;
}

const OPTION_LIST: OptSpec[] = [
  { name: 'account', short: 'A', arg: 'required' },
  { name: 'acctg-freq', arg: 'required' },
  { name: 'array', short: 'a', arg: 'required' },
  { name: 'batch', arg: 'required' },
  { name: 'bb', arg: 'required' },
  { name: 'bbf', arg: 'required' },
  { name: 'begin', short: 'b', arg: 'required' },
  { name: 'chdir', short: 'D', arg: 'required' },
  { name: 'cluster-constraint', arg: 'required' },
  { name: 'clusters', short: 'M', arg: 'required' },
  { name: 'comment', arg: 'required' },
  { name: 'constraint', short: 'C', arg: 'required' },
  { name: 'container', arg: 'required' },
  { name: 'contiguous', arg: 'none' },
  { name: 'core-spec', short: 'S', arg: 'required' },
  { name: 'cores-per-socket', arg: 'required' },
  { name: 'cpu-freq', arg: 'required' },
  { name: 'cpus-per-gpu', arg: 'required' },
  { name: 'cpus-per-task', short: 'c', arg: 'required' },
  { name: 'deadline', arg: 'required' },
  { name: 'delay-boot', arg: 'required' },
  { name: 'dependency', short: 'd', arg: 'required' },
  { name: 'distribution', short: 'm', arg: 'required' },
  { name: 'error', short: 'e', arg: 'required' },
  { name: 'exclude', short: 'x', arg: 'required' },
  { name: 'exclusive', arg: 'optional' },
  { name: 'export', arg: 'required' },
  { name: 'export-file', arg: 'required' },
  { name: 'extra-node-info', short: 'B', arg: 'required' },
  { name: 'get-user-env', arg: 'optional' },
  { name: 'gid', arg: 'required' },
  { name: 'gpu-bind', arg: 'required' },
  { name: 'gpu-freq', arg: 'required' },
  { name: 'gpus', short: 'G', arg: 'required' },
  { name: 'gpus-per-node', arg: 'required' },
  { name: 'gpus-per-socket', arg: 'required' },
  { name: 'gpus-per-task', arg: 'required' },
  { name: 'gres', arg: 'required' },
  { name: 'gres-flags', arg: 'required' },
  { name: 'help', short: 'h', arg: 'none' },
  { name: 'hint', arg: 'required' },
  { name: 'hold', short: 'H', arg: 'none' },
  { name: 'ignore-pbs', arg: 'none' },
  { name: 'input', short: 'i', arg: 'required' },
  { name: 'job-name', short: 'J', arg: 'required' },
  { name: 'kill-on-invalid-dep', arg: 'required' },
  { name: 'licenses', short: 'L', arg: 'required' },
  { name: 'mail-type', arg: 'required' },
  { name: 'mail-user', arg: 'required' },
  { name: 'mcs-label', arg: 'required' },
  { name: 'mem', arg: 'required' },
  { name: 'mem-bind', arg: 'required' },
  { name: 'mem-per-cpu', arg: 'required' },
  { name: 'mem-per-gpu', arg: 'required' },
  { name: 'mincpus', arg: 'required' },
  { name: 'network', arg: 'required' },
  { name: 'nice', arg: 'optional' },
  { name: 'no-kill', short: 'k', arg: 'optional' },
  { name: 'no-requeue', arg: 'none' },
  { name: 'nodefile', short: 'F', arg: 'required' },
  { name: 'nodelist', short: 'w', arg: 'required' },
  { name: 'nodes', short: 'N', arg: 'required' },
  { name: 'ntasks', short: 'n', arg: 'required' },
  { name: 'ntasks-per-core', arg: 'required' },
  { name: 'ntasks-per-gpu', arg: 'required' },
  { name: 'ntasks-per-node', arg: 'required' },
  { name: 'ntasks-per-socket', arg: 'required' },
  { name: 'open-mode', arg: 'required' },
  { name: 'output', short: 'o', arg: 'required' },
  { name: 'overcommit', short: 'O', arg: 'none' },
  { name: 'oversubscribe', short: 's', arg: 'none' },
  { name: 'parsable', arg: 'none' },
  { name: 'partition', short: 'p', arg: 'required' },
  { name: 'power', arg: 'required' },
  { name: 'prefer', arg: 'required' },
  { name: 'priority', arg: 'required' },
  { name: 'profile', arg: 'required' },
  { name: 'propagate', arg: 'optional' },
  { name: 'qos', short: 'q', arg: 'required' },
  { name: 'quiet', short: 'Q', arg: 'none' },
  { name: 'reboot', arg: 'none' },
  { name: 'requeue', arg: 'none' },
  { name: 'reservation', arg: 'required' },
  { name: 'signal', arg: 'required' },
  { name: 'sockets-per-node', arg: 'required' },
  { name: 'spread-job', arg: 'none' },
  { name: 'switches', arg: 'required' },
  { name: 'test-only', arg: 'none' },
  { name: 'thread-spec', arg: 'required' },
  { name: 'threads-per-core', arg: 'required' },
  { name: 'time', short: 't', arg: 'required' },
  { name: 'time-min', arg: 'required' },
  { name: 'tmp', arg: 'required' },
  { name: 'uid', arg: 'required' },
  { name: 'usage', arg: 'none' },
  { name: 'use-min-nodes', arg: 'none' },
  { name: 'verbose', short: 'v', arg: 'none' },
  { name: 'version', short: 'V', arg: 'none' },
  { name: 'wait', short: 'W', arg: 'none' },
  { name: 'wait-all-nodes', arg: 'required' },
  { name: 'wckey', arg: 'required' },
  { name: 'wrap', arg: 'required' },
  // Aliases sbatch still accepts.
  { name: 'tasks-per-node', arg: 'required', alias: 'ntasks-per-node' },
  // Added after 22.05; accepted so a newer cluster's scripts are not flagged.
  { name: 'tres-per-task', arg: 'required' },
  { name: 'tres-bind', arg: 'required' },
  { name: 'oom-kill-step', arg: 'optional' },
  { name: 'segment', arg: 'required' },
  { name: 'spread-segments', arg: 'none' },
  { name: 'extra', arg: 'required' },
];

/** Every option the parser accepts (editors complete and document these). */
export const SBATCH_OPTIONS: readonly Readonly<OptSpec>[] = OPTION_LIST;

const LONG = new Map<string, OptSpec>(OPTION_LIST.map((o) => [o.name, o]));
const SHORT = new Map<string, OptSpec>(OPTION_LIST.filter((o) => o.short).map((o) => [o.short as string, o]));
const canonical = (o: OptSpec): string => o.alias ?? o.name;

const MAX_PROBLEMS = 1000;

// ---------------------------------------------------------------------------

/** One word of the argument vector, with where it came from. */
interface Word {
  text: string;
  source: DirectiveSource;
  line: number;
  /** 0-based start and exclusive end in the line (script) or argv index (command line). */
  start: number;
  end: number;
  /** 0-based index in the line just after the first `=` copied into text; -1 if none. */
  afterEq: number;
  /** Index in the line of each of the first copied characters (for `-t10`, `-HJname`). */
  pos: number[];
  lineText: string;
  component: number;
}

interface HetState {
  component: number;
  warned: boolean;
}

interface Ctx {
  problems: Problem[];
  dropped: number;
}

function addProblem(ctx: Ctx, p: Problem): void {
  if (p.endColumn <= p.column) p.endColumn = p.column + 1;
  if (ctx.problems.length < MAX_PROBLEMS) ctx.problems.push(p);
  else ctx.dropped++;
}

function wordProblem(ctx: Ctx, w: Word, severity: Problem['severity'], message: string, option?: string): void {
  addProblem(ctx, { line: w.line, column: w.start + 1, endColumn: w.end + 1, severity, message, source: w.source, ...(option ? { option } : {}) });
}

// C's isspace() in the C locale.
function isCSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

const MAGIC = '#SBATCH';
// '"', '#', "'", '\\'
const SPECIAL = new Set([34, 35, 39, 92]);
/** Words read from directive lines at most; real scripts have a few dozen. */
const MAX_WORDS = 10_000;

/** Splits what follows `#SBATCH` on a line into words, as sbatch's get_argument does. */
function splitDirectiveLine(ctx: Ctx, lineText: string, lineNo: number, het: HetState, out: Word[]): void {
  const n = lineText.length;
  let p = MAGIC.length;
  let firstWord = true;
  for (;;) {
    while (p < n && isCSpace(lineText.charCodeAt(p))) p++;
    if (p >= n) return;
    if (lineText[p] === ':') {
      addProblem(ctx, { line: lineNo, column: p + 1, endColumn: p + 2, severity: 'error', message: "Unexpected ':' (sbatch stops: a ':' only separates heterogeneous job components on the command line)", source: 'script' });
    }
    const start = p;
    let text = '';
    let quoted = false;
    let quoteChar = '';
    let quoteAt = -1;
    let escape = false;
    let afterEq = -1;
    let hashAt = -1;
    const pos: number[] = [];
    while (p < n && (quoted || !isCSpace(lineText.charCodeAt(p)))) {
      const ch = lineText[p] as string;
      if (escape) {
        escape = false;
      } else if (ch === '\\') {
        escape = true;
        p++;
        continue;
      } else if (quoted) {
        if (ch === quoteChar) {
          quoted = false;
          p++;
          continue;
        }
        let q = p + 1;
        while (q < n && lineText[q] !== quoteChar && lineText.charCodeAt(q) !== 92) q++;
        for (let j = p; j < q && pos.length < 32; j++) pos.push(j);
        if (afterEq < 0) afterEq = afterFirstEq(lineText, p, q);
        text += lineText.slice(p, q);
        p = q;
        continue;
      } else if (ch === '"' || ch === "'") {
        quoted = true;
        quoteChar = ch;
        quoteAt = p;
        p++;
        continue;
      } else if (ch === '#') {
        hashAt = p;
        break;
      } else {
        // A run of ordinary characters, copied at once (a 10 MB word stays fast).
        let q = p + 1;
        while (q < n && !isCSpace(lineText.charCodeAt(q)) && !SPECIAL.has(lineText.charCodeAt(q))) q++;
        for (let j = p; j < q && pos.length < 32; j++) pos.push(j);
        if (afterEq < 0) afterEq = afterFirstEq(lineText, p, q);
        text += lineText.slice(p, q);
        p = q;
        continue;
      }
      if (pos.length < 32) pos.push(p);
      if (ch === '=' && afterEq < 0) afterEq = p + 1;
      text += ch;
      p++;
    }
    if (quoted) {
      addProblem(ctx, { line: lineNo, column: quoteAt + 1, endColumn: n + 1, severity: 'error', message: `Unmatched ${quoteChar} (sbatch stops with "Unmatched \`${quoteChar}\`")`, source: 'script' });
    }
    // sbatch stops reading the line at the first word with no characters (`""`, or a `#`).
    if (text === '') {
      if (hashAt < 0 && p > start) {
        addProblem(ctx, { line: lineNo, column: start + 1, endColumn: p + 1, severity: 'warning', message: 'An empty word: sbatch ignores the rest of this line', source: 'script' });
      }
      return;
    }
    if (hashAt >= 0) {
      addProblem(ctx, { line: lineNo, column: hashAt + 1, endColumn: n + 1, severity: 'warning', message: `'#' starts a comment here, so the word ends as "${clip(text)}"; quote or escape it (\\#) to keep it`, source: 'script' });
    }
    if (/^(?:hetjob|packjob)$/i.test(text)) {
      // sbatch drops the word; as the first word of a line it starts the next component.
      if (firstWord) {
        het.component++;
        if (!het.warned) {
          het.warned = true;
          addProblem(ctx, { line: lineNo, column: start + 1, endColumn: p + 1, severity: 'warning', message: 'Heterogeneous job: the request describes the first component only', source: 'script' });
        }
      }
    } else {
      out.push({ text, source: 'script', line: lineNo, start, end: p, afterEq, pos, lineText, component: het.component });
    }
    firstWord = false;
    if (hashAt >= 0 || out.length >= MAX_WORDS) return;
  }
}

function afterFirstEq(s: string, from: number, to: number): number {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 61) return i + 1;
  return -1;
}

function clip(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Resolves a long option name as getopt_long does (exact, else unique prefix). */
function resolveLong(name: string): { spec: OptSpec | null; candidates: string[] } {
  const exact = LONG.get(name);
  if (exact) return { spec: exact, candidates: [] };
  if (name === '') return { spec: null, candidates: [] };
  const matches = OPTION_LIST.filter((o) => o.name.startsWith(name));
  const targets = new Set(matches.map(canonical));
  if (targets.size === 1) return { spec: matches[0] as OptSpec, candidates: [] };
  return { spec: null, candidates: [...targets] };
}

interface RawDirective {
  spec: OptSpec;
  optWord: Word;
  /** For short options in a cluster, the character's index in the word text. */
  shortIndex: number | null;
  value: string | null;
  valueWord: Word | null;
  /** 0-based start in valueWord's line (or argv index). */
  valueStart: number;
  valueEnd: number;
}

/** getopt_long over the words. Script: a stray word is an error; command line: it is the script, and ends the options. */
function readOptions(ctx: Ctx, words: Word[], source: DirectiveSource): RawDirective[] {
  const out: RawDirective[] = [];
  let i = 0;
  while (i < words.length) {
    if (out.length >= MAX_WORDS) break;
    const w = words[i] as Word;
    i++;
    const t = w.text;
    if (t === '--') {
      if (source === 'script') {
        for (const rest of words.slice(i)) wordProblem(ctx, rest, 'error', `Invalid directive found in batch script: ${clip(rest.text)} (after '--', nothing is read as an option)`);
      }
      break;
    }
    if (t.startsWith('--')) {
      const eq = t.indexOf('=');
      const name = eq >= 0 ? t.slice(2, eq) : t.slice(2);
      const { spec, candidates } = resolveLong(name);
      const optEnd = eq >= 0 ? (w.afterEq > 0 ? w.afterEq - 1 : w.end) : w.end;
      if (!spec) {
        const msg =
          candidates.length > 1
            ? `Ambiguous option --${name}: could be ${candidates.slice(0, 6).map((c) => `--${c}`).join(', ')}`
            : `Unknown option --${clip(name)} (sbatch 22.05 does not know it)`;
        addProblem(ctx, { line: w.line, column: w.start + 1, endColumn: optEnd + 1, severity: candidates.length > 1 ? 'error' : 'warning', message: msg, source });
        // Without knowing the option, assume a following plain word on the same line is its value.
        const next = words[i];
        if (eq < 0 && next && next.line === w.line && next.source === w.source && !next.text.startsWith('-')) i++;
        continue;
      }
      const name2 = canonical(spec);
      if (!LONG.has(name)) {
        addProblem(ctx, { line: w.line, column: w.start + 1, endColumn: optEnd + 1, severity: 'warning', message: `--${name} is an abbreviation of --${spec.name}; spell it out (a newer sbatch may find it ambiguous)`, option: name2, source });
      }
      if (spec.arg === 'none') {
        if (eq >= 0) {
          wordProblem(ctx, w, 'error', `--${spec.name} does not take a value`, name2);
          continue;
        }
        out.push({ spec, optWord: w, shortIndex: null, value: null, valueWord: null, valueStart: 0, valueEnd: 0 });
        continue;
      }
      if (eq >= 0) {
        const vs = source === 'script' ? (w.afterEq >= 0 ? w.afterEq : w.end) : w.start;
        out.push({ spec, optWord: w, shortIndex: null, value: t.slice(eq + 1), valueWord: w, valueStart: vs, valueEnd: w.end });
        continue;
      }
      if (spec.arg === 'optional') {
        out.push({ spec, optWord: w, shortIndex: null, value: null, valueWord: null, valueStart: 0, valueEnd: 0 });
        const next = words[i];
        if (next && !next.text.startsWith('-') && source === 'script') {
          addProblem(ctx, { line: next.line, column: next.start + 1, endColumn: next.end + 1, severity: 'error', message: `--${spec.name} takes its optional value only as --${spec.name}=${clip(next.text, 20)}; sbatch reads "${clip(next.text, 20)}" as a stray word (Invalid directive found in batch script)`, option: name2, source });
          i++;
        }
        continue;
      }
      const next = words[i];
      if (!next) {
        wordProblem(ctx, w, 'error', `--${spec.name} requires a value`, name2);
        continue;
      }
      i++;
      out.push({ spec, optWord: w, shortIndex: null, value: next.text, valueWord: next, valueStart: next.start, valueEnd: next.end });
      continue;
    }
    if (t.startsWith('-') && t.length > 1) {
      for (let k = 1; k < t.length && out.length < MAX_WORDS; k++) {
        const letter = t[k] as string;
        const spec = SHORT.get(letter);
        const at = source === 'script' ? (w.pos[k] ?? w.start) : w.start;
        if (!spec) {
          addProblem(ctx, { line: w.line, column: at + 1, endColumn: at + 2, severity: 'warning', message: `Unknown option -${letter}`, source });
          break;
        }
        if (spec.arg === 'none') {
          out.push({ spec, optWord: w, shortIndex: k, value: null, valueWord: null, valueStart: 0, valueEnd: 0 });
          continue;
        }
        const rest = t.slice(k + 1);
        if (rest !== '' || spec.arg === 'optional') {
          const vs = source === 'script' ? (w.pos[k + 1] ?? w.end) : w.start;
          out.push({ spec, optWord: w, shortIndex: k, value: rest === '' ? null : rest, valueWord: rest === '' ? null : w, valueStart: vs, valueEnd: w.end });
          break;
        }
        const next = words[i];
        if (!next) {
          addProblem(ctx, { line: w.line, column: at + 1, endColumn: at + 2, severity: 'error', message: `-${letter} (--${spec.name}) requires a value`, option: canonical(spec), source });
          break;
        }
        i++;
        out.push({ spec, optWord: w, shortIndex: k, value: next.text, valueWord: next, valueStart: next.start, valueEnd: next.end });
        break;
      }
      continue;
    }
    // Not an option.
    if (source === 'command-line') break; // the script's path; what follows are the script's arguments
    wordProblem(ctx, w, 'error', `Invalid directive found in batch script: ${clip(t)} (not an option; sbatch refuses the script)`);
  }
  return out;
}

function toDirective(r: RawDirective, source: DirectiveSource): Directive {
  const w = r.optWord;
  let column: number;
  let endColumn: number;
  if (source === 'command-line') {
    column = w.start + 1;
    endColumn = w.end + 1;
  } else if (r.shortIndex !== null) {
    const s = w.pos[r.shortIndex] ?? w.start;
    column = r.shortIndex === 1 ? w.start + 1 : s + 1;
    endColumn = s + 2;
  } else {
    column = w.start + 1;
    endColumn = (r.valueWord === w && w.afterEq > 0 ? w.afterEq - 1 : w.end) + 1;
  }
  let raw: string;
  if (source === 'command-line') {
    raw = r.valueWord && r.valueWord !== w ? `${w.text} ${r.valueWord.text}` : w.text;
  } else if (r.valueWord && r.valueWord !== w) {
    raw = r.valueWord.line === w.line ? w.lineText.slice(w.start, r.valueWord.end) : `${w.lineText.slice(w.start, w.end)} ${r.valueWord.lineText.slice(r.valueWord.start, r.valueWord.end)}`;
  } else {
    raw = w.lineText.slice(w.start, w.end);
  }
  const hasValue = r.valueWord !== null;
  return {
    option: canonical(r.spec),
    raw,
    value: r.value,
    line: w.line,
    column,
    endColumn,
    valueLine: hasValue ? (r.valueWord as Word).line : null,
    valueColumn: hasValue ? r.valueStart + 1 : null,
    valueEndColumn: hasValue ? Math.max(r.valueEnd, r.valueStart + 1) + 1 : null,
    source,
    component: w.component,
    effective: true,
  };
}

// ---------------------------------------------------------------------------
// Values.

const INT = /^\d+$/;
// sbatch 22.05 also takes a trailing B (`4GB`, `4gb`), not `4GiB`, decimals or P.
const MEM = /^(\d+)(?:([KMGTkmgt])[Bb]?)?$/;
const MEM_OPTIONS = ['mem', 'mem-per-cpu', 'mem-per-gpu'];

/** sbatch's str_to_mbytes: digits and one optional K/M/G/T; K rounds up to whole MB. */
function memToMB(v: string): number | null {
  const m = MEM.exec(v);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'M').toUpperCase();
  const mb = unit === 'K' ? Math.ceil(n / 1024) : unit === 'M' ? n : unit === 'G' ? n * 1024 : n * 1024 * 1024;
  return Number.isSafeInteger(mb) ? mb : null;
}

type TimeValue = { kind: 'seconds'; seconds: number } | { kind: 'unlimited' } | { kind: 'invalid' };

/** --time / --time-min: every form parseSlurmDuration reads, plus SLURM's `-1` for no limit. 0 is no limit. */
function parseTimeValue(v: string): TimeValue {
  const t = v;
  if (t === '-1') return { kind: 'unlimited' };
  // parseSlurmDuration also reads sacct's fractional seconds and surrounding blanks; sbatch does not.
  if (t.includes('.') || t.trim() !== t) return { kind: 'invalid' };
  const d = parseSlurmDurationDetailed(t);
  if (d.kind === 'unlimited') return { kind: 'unlimited' };
  if (d.kind !== 'seconds') return { kind: 'invalid' };
  if (d.seconds === 0) return { kind: 'unlimited' };
  // "Time resolution is one minute and second values are rounded up to the next minute."
  return { kind: 'seconds', seconds: Math.ceil(d.seconds / 60) * 60 };
}

function parseCount(v: string): number | null {
  const m = /^(\d+)([kKmM])?$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]) * (m[2] === undefined ? 1 : /k/i.test(m[2]) ? 1024 : 1024 * 1024);
  return Number.isSafeInteger(n) ? n : null;
}

function parseNodes(v: string): { min: number; max: number } | null {
  const m = /^([^-]+)(?:-(.+))?$/.exec(v.trim());
  if (!m) return null;
  const min = parseCount(m[1] as string);
  const max = m[2] === undefined ? min : parseCount(m[2]);
  if (min === null || max === null || max < min) return null;
  return { min, max };
}

interface GpuSpec {
  count: number;
  type: string | null;
}

/** `[type:]count[,…]` of --gpus, --gpus-per-node, --gpus-per-task. */
function parseGpuList(v: string): GpuSpec[] | null {
  const out: GpuSpec[] = [];
  for (const part of v.split(',')) {
    const m = /^(?:([^:,\s]+):)?(\d+)$/.exec(part.trim());
    if (!m) return null;
    out.push({ count: Number(m[2]), type: m[1] ?? null });
  }
  return out.length > 0 ? out : null;
}

/** GPUs per node in a --gres list (`gpu`, `gpu:2`, `gpu:a100:2`, `gres/gpu:2`); null if the list is unreadable. */
function parseGres(v: string): { gpus: GpuSpec | null } | null {
  const t = v.trim();
  if (t.toLowerCase() === 'none') return { gpus: null };
  let gpuCount = 0;
  let gpuType: string | null = null;
  let sawGpu = false;
  for (const part of t.split(',')) {
    const p = part.trim().replace(/^gres[:/]/, '');
    const m = /^([A-Za-z0-9_.-]+)(?::([^:]+))?(?::([^:]+))?$/.exec(p);
    if (!m) return null;
    let type: string | null = null;
    let countText: string | undefined;
    if (m[3] !== undefined) {
      type = m[2] as string;
      countText = m[3];
    } else if (m[2] !== undefined) {
      if (/^\d+[kKmMgGtTpP]?$/.test(m[2])) countText = m[2];
      else type = m[2];
    }
    let count = 1;
    if (countText !== undefined) {
      const cm = /^(\d+)([kKmMgGtTpP])?$/.exec(countText);
      if (!cm) return null;
      const pow = cm[2] ? 'KMGTP'.indexOf(cm[2].toUpperCase()) + 1 : 0;
      count = Number(cm[1]) * 1024 ** pow;
    }
    if (m[1] === 'gpu') {
      sawGpu = true;
      gpuCount += count;
      gpuType = gpuType ?? type;
    }
  }
  return { gpus: sawGpu ? { count: gpuCount, type: gpuType } : null };
}

const MAIL_TYPES = new Set(['NONE', 'BEGIN', 'END', 'FAIL', 'REQUEUE', 'ALL', 'INVALID_DEPEND', 'STAGE_OUT', 'TIME_LIMIT', 'TIME_LIMIT_90', 'TIME_LIMIT_80', 'TIME_LIMIT_50', 'ARRAY_TASKS']);
const DEPENDENCY = /^(?:singleton|(?:after|afterany|afterburstbuffer|aftercorr|afternotok|afterok)(?::[0-9_+.\[\]%-]+)+|expand:\d+)$/;

/** Checks one directive's value; returns a message for a bad one. */
function checkValue(option: string, value: string | null): { severity: Problem['severity']; message: string } | null {
  if (value === null) return null;
  const bad = (what = option) => ({ severity: 'error' as const, message: `Invalid --${what} specification: "${clip(value)}"` });
  switch (option) {
    case 'time':
    case 'time-min':
      if (parseTimeValue(value).kind === 'invalid') {
        return { severity: 'error', message: `Invalid --${option} specification: "${clip(value)}" (use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED)` };
      }
      return null;
    case 'mem':
    case 'mem-per-cpu':
    case 'mem-per-gpu':
    case 'tmp':
      if (memToMB(value) === null) return { severity: 'error', message: `Invalid --${option} specification: "${clip(value)}" (a whole number with an optional K, M, G or T; default M)` };
      return null;
    case 'nodes':
      return parseNodes(value) === null ? { severity: 'error', message: `Invalid --nodes specification: "${clip(value)}" (N or MIN-MAX)` } : null;
    case 'ntasks':
    case 'cpus-per-task':
    case 'ntasks-per-node':
    case 'ntasks-per-core':
    case 'ntasks-per-socket':
    case 'ntasks-per-gpu':
    case 'cpus-per-gpu':
    case 'mincpus':
    case 'sockets-per-node':
    case 'cores-per-socket':
    case 'threads-per-core':
      if (!INT.test(value.trim()) || Number(value) <= 0) return { severity: 'error', message: `Invalid --${option} value: "${clip(value)}" (a whole number above 0)` };
      return null;
    case 'gpus':
    case 'gpus-per-node':
    case 'gpus-per-task':
    case 'gpus-per-socket':
      return parseGpuList(value) === null ? { severity: 'error', message: `Invalid --${option} specification: "${clip(value)}" ([type:]count)` } : null;
    case 'gres':
      return parseGres(value) === null ? { severity: 'error', message: `Invalid --gres specification: "${clip(value)}" (name[[:type]:count],…)` } : null;
    case 'array': {
      const spec = parseArraySpec(value);
      if (spec.ranges === null) {
        return { severity: 'error', message: `Invalid --array specification: "${clip(value)}" (e.g. 0-99, 1,3,5-7:2, 0-99%10)` };
      }
      if (value.includes('%') && spec.throttle === null) {
        return { severity: 'warning', message: `--array "${clip(value)}": the limit after % is not a number; SLURM ignores it` };
      }
      return null;
    }
    case 'exclusive':
      return ['user', 'mcs', 'topo'].includes(value) ? null : bad();
    case 'open-mode':
      return /^(a|append|t|truncate)$/i.test(value) ? null : bad();
    case 'mail-type': {
      const unknown = value.split(',').filter((x) => !MAIL_TYPES.has(x.trim().toUpperCase()));
      return unknown.length > 0 ? { severity: 'error', message: `Invalid --mail-type: ${unknown.map((u) => `"${clip(u, 20)}"`).join(', ')}` } : null;
    }
    case 'dependency': {
      const parts = value.split(/[,?]/);
      return parts.every((p) => DEPENDENCY.test(p.trim())) ? null : { severity: 'warning', message: `--dependency "${clip(value)}" does not look like type:jobid[:jobid…] (after, afterany, afterok, afternotok, aftercorr, singleton)` };
    }
    case 'partition':
      return value === '' ? { severity: 'error', message: '--partition has an empty value' } : null;
    case 'account':
    case 'qos':
    case 'job-name':
    case 'output':
    case 'error':
    case 'chdir':
      return value === '' ? { severity: 'warning', message: `--${option} has an empty value` } : null;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------

function emptyRequest(): SbatchRequest {
  return {
    timeLimitSeconds: null,
    timeUnlimited: false,
    timeMinSeconds: null,
    nodes: null,
    ntasks: null,
    ntasksPerNode: null,
    cpusPerTask: null,
    effectiveTasks: 1,
    totalCpus: 1,
    memMB: null,
    memAllOfNode: false,
    memPerCpuMB: null,
    memPerGpuMB: null,
    gpus: null,
    gpuType: null,
    gpusPerNode: null,
    gpusPerTask: null,
    gres: null,
    partition: null,
    qos: null,
    account: null,
    jobName: null,
    array: null,
    output: null,
    error: null,
    input: null,
    chdir: null,
    constraint: null,
    nodelist: null,
    exclude: null,
    exclusive: null,
    dependency: null,
    begin: null,
    deadline: null,
    reservation: null,
    mailType: null,
    mailUser: null,
    licenses: null,
    tmpMB: null,
    requeue: null,
    hold: false,
    hetComponents: 1,
  };
}

/**
 * Reads a batch script's `#SBATCH` directives and sbatch's command-line
 * options (argv before the script, e.g. `['--time=5', '-p', 'long']`; they
 * win over the script's). Never throws: anything wrong becomes a problem.
 */
export function parseSbatchScript(text: string, commandLineArgs?: string[]): DirectivesResult {
  const ctx: Ctx = { problems: [], dropped: 0 };
  try {
    return parse(ctx, typeof text === 'string' ? text : '', Array.isArray(commandLineArgs) ? commandLineArgs : []);
  } catch (e) {
    addProblem(ctx, { line: 1, column: 1, endColumn: 2, severity: 'error', message: `Could not read the directives: ${e instanceof Error ? e.message : String(e)}` });
    return { request: emptyRequest(), directives: [], problems: ctx.problems, options: {} };
  }
}

function parse(ctx: Ctx, input: string, argv: unknown[]): DirectivesResult {
  let text = input;
  const hadBom = text.charCodeAt(0) === 0xfeff;
  if (hadBom) text = text.slice(1);

  checkWholeScript(ctx, text, hadBom);

  // Directive block.
  const words: Word[] = [];
  const het: HetState = { component: 0, warned: false };
  let firstCommandLine = 0;
  let lineNo = 0;
  let offset = 0;
  let afterWarnings = 0;
  while (offset <= text.length) {
    let nl = text.indexOf('\n', offset);
    if (nl < 0) nl = text.length;
    let line = text.slice(offset, nl);
    offset = nl + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);

    if (firstCommandLine > 0) {
      if (line.startsWith(MAGIC) && afterWarnings < MAX_PROBLEMS) {
        afterWarnings++;
        addProblem(ctx, { line: lineNo, column: 1, endColumn: line.length + 1, severity: 'warning', message: `#SBATCH after the first command (line ${firstCommandLine}); sbatch ignores it`, source: 'script' });
      }
      continue;
    }
    if (line.startsWith(MAGIC)) {
      if (words.length < MAX_WORDS) {
        splitDirectiveLine(ctx, line, lineNo, het, words);
        if (words.length >= MAX_WORDS) {
          addProblem(ctx, { line: lineNo, column: 1, endColumn: line.length + 1, severity: 'warning', message: `More than ${MAX_WORDS} words in #SBATCH lines; the rest are not read`, source: 'script' });
        }
      }
      continue;
    }
    let first = 0;
    while (first < line.length && isCSpace(line.charCodeAt(first))) first++;
    if (first >= line.length) continue; // blank
    if (line[first] === '#') {
      // A comment. Point out the look-alikes that sbatch does not read.
      if (first > 0 && line.startsWith(MAGIC, first)) {
        addProblem(ctx, { line: lineNo, column: 1, endColumn: first + MAGIC.length + 1, severity: 'warning', message: 'Indented #SBATCH: sbatch only reads #SBATCH at the very start of a line', source: 'script' });
      } else if (first === 0 && /^#sbatch\b/i.test(line) && !line.startsWith(MAGIC)) {
        addProblem(ctx, { line: lineNo, column: 1, endColumn: MAGIC.length + 1, severity: 'warning', message: `${line.slice(0, MAGIC.length)} is not #SBATCH (case matters); sbatch ignores this line`, source: 'script' });
      }
      continue;
    }
    firstCommandLine = lineNo;
  }

  const scriptRaw = readOptions(ctx, words, 'script');
  const argWords: Word[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const t = typeof a === 'string' ? a : String(a);
    argWords.push({ text: t, source: 'command-line', line: 0, start: i, end: i + 1, afterEq: -1, pos: [], lineText: t, component: 0 });
  }
  const cliRaw = readOptions(ctx, argWords, 'command-line');

  const directives: Directive[] = [...scriptRaw.map((r) => toDirective(r, 'script')), ...cliRaw.map((r) => toDirective(r, 'command-line'))];

  // Value checks.
  for (const d of directives) {
    const bad = checkValue(d.option, d.value);
    if (bad) {
      addProblem(ctx, { line: d.valueLine ?? d.line, column: d.valueColumn ?? d.column, endColumn: d.valueEndColumn ?? d.endColumn, severity: bad.severity, message: bad.message, option: d.option, source: d.source });
    }
  }

  // #SBATCH lines are not run by a shell.
  for (const d of directives) {
    if (d.source === 'script' && d.value !== null) {
      const m = /\$(?:\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)/.exec(d.value);
      if (m) {
        addProblem(ctx, { line: d.valueLine ?? d.line, column: d.valueColumn ?? d.column, endColumn: d.valueEndColumn ?? d.endColumn, severity: 'warning', message: `${clip(m[0], 30)} is not expanded: #SBATCH lines are not run by a shell (use %-patterns such as %j, %x, %u in file names)`, option: d.option, source: 'script' });
      }
    }
  }

  // Which directive wins: the last of each option, command line over script; only component 0.
  const last = new Map<string, Directive>();
  for (const d of directives) {
    if (d.component !== 0) {
      d.effective = false;
      continue;
    }
    const prev = last.get(d.option);
    if (prev) {
      prev.effective = false;
      if (prev.source === 'script' && d.source === 'script') {
        addProblem(ctx, { line: prev.line, column: prev.column, endColumn: prev.endColumn, severity: 'warning', message: `--${d.option} is given again on line ${d.line}; sbatch uses that one and ignores this`, option: d.option, source: 'script' });
      }
    }
    last.set(d.option, d);
  }
  // --mem, --mem-per-cpu, --mem-per-gpu exclude each other; one given on the command line replaces the script's.
  const mems = MEM_OPTIONS.map((o) => last.get(o)).filter((d): d is Directive => d !== undefined);
  if (mems.length > 1) {
    const cli = mems.filter((d) => d.source === 'command-line');
    if (cli.length > 0) {
      for (const d of mems) {
        if (d.source === 'script') {
          d.effective = false;
          last.delete(d.option);
        }
      }
    }
    const left = MEM_OPTIONS.map((o) => last.get(o)).filter((d): d is Directive => d !== undefined);
    if (left.length > 1) {
      for (const d of left.slice(1)) {
        addProblem(ctx, { line: d.line, column: d.column, endColumn: d.endColumn, severity: 'error', message: `--mem, --mem-per-cpu and --mem-per-gpu are mutually exclusive (--${(left[0] as Directive).option} is also given)`, option: d.option, source: d.source });
      }
    }
  }

  const options: Record<string, string | null> = {};
  for (const [k, d] of last) options[k] = d.value;
  const request = buildRequest(ctx, last, het.component + 1);

  if (ctx.dropped > 0) {
    ctx.problems.push({ line: 1, column: 1, endColumn: 2, severity: 'warning', message: `${ctx.dropped} more problems not listed` });
  }
  ctx.problems.sort((a, b) => (a.line === 0 ? 1e12 : a.line) - (b.line === 0 ? 1e12 : b.line) || a.column - b.column);
  return { request, directives, problems: ctx.problems, options };
}

/** What sbatch checks before reading any option: the script as a whole. */
function checkWholeScript(ctx: Ctx, text: string, hadBom: boolean): void {
  const whole = (message: string) => addProblem(ctx, { line: 1, column: 1, endColumn: 2, severity: 'error', message, source: 'script' });
  if (text.length === 0 && !hadBom) {
    whole('Batch script is empty');
    return;
  }
  if (/^[\t\n\v\f\r ]*$/.test(text)) {
    whole('Batch script contains only whitespace');
    return;
  }
  if (hadBom) {
    whole('The file starts with a UTF-8 byte order mark: sbatch sees it before "#!" and refuses the script ("This does not look like a batch script"); save without BOM');
  } else if (!text.startsWith('#!')) {
    const nl = text.indexOf('\n');
    addProblem(ctx, { line: 1, column: 1, endColumn: Math.min(nl < 0 ? text.length : nl, 200) + 1, severity: 'error', message: 'This does not look like a batch script: the first line must start with #! followed by the path to an interpreter (e.g. #!/bin/bash)', source: 'script' });
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const { line, column } = positionOf(text, nul);
    addProblem(ctx, { line, column, endColumn: column + 1, severity: 'error', message: "The script contains a NUL character ('\\0'); the Slurm controller refuses such scripts", source: 'script' });
  }
  const crlf = text.indexOf('\r\n');
  if (crlf >= 0) {
    const { line, column } = positionOf(text, crlf);
    addProblem(ctx, { line, column, endColumn: column + 1, severity: 'error', message: 'Batch script contains DOS line breaks (\\r\\n) instead of UNIX line breaks (\\n); sbatch refuses it', source: 'script' });
  }
}

function positionOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: index - lineStart + 1 };
}

function buildRequest(ctx: Ctx, last: Map<string, Directive>, components: number): SbatchRequest {
  const r = emptyRequest();
  r.hetComponents = components;
  const val = (o: string): string | null => {
    const d = last.get(o);
    return d && d.value !== null ? d.value : null;
  };
  const posInt = (o: string): number | null => {
    const v = val(o);
    return v !== null && INT.test(v.trim()) && Number(v) > 0 ? Number(v) : null;
  };

  const time = val('time');
  if (time !== null) {
    const t = parseTimeValue(time);
    if (t.kind === 'seconds') r.timeLimitSeconds = t.seconds;
    else if (t.kind === 'unlimited') r.timeUnlimited = true;
  }
  const tmin = val('time-min');
  if (tmin !== null) {
    const t = parseTimeValue(tmin);
    if (t.kind === 'seconds') r.timeMinSeconds = t.seconds;
  }
  const nodes = val('nodes');
  if (nodes !== null) r.nodes = parseNodes(nodes);
  r.ntasks = posInt('ntasks');
  r.ntasksPerNode = posInt('ntasks-per-node');
  r.cpusPerTask = posInt('cpus-per-task');
  const minNodes = r.nodes ? Math.max(r.nodes.min, 1) : 1;
  if (r.ntasks !== null) r.effectiveTasks = r.ntasks;
  else if (r.ntasksPerNode !== null && (r.nodes === null || r.nodes.min === r.nodes.max)) r.effectiveTasks = minNodes * r.ntasksPerNode;
  else r.effectiveTasks = minNodes;
  r.totalCpus = r.effectiveTasks * (r.cpusPerTask ?? 1);

  const mem = val('mem');
  if (mem !== null) {
    r.memMB = memToMB(mem);
    r.memAllOfNode = r.memMB === 0;
  }
  const mpc = val('mem-per-cpu');
  if (mpc !== null) r.memPerCpuMB = memToMB(mpc);
  const mpg = val('mem-per-gpu');
  if (mpg !== null) r.memPerGpuMB = memToMB(mpg);
  const tmp = val('tmp');
  if (tmp !== null) r.tmpMB = memToMB(tmp);

  // GPUs.
  const sum = (l: GpuSpec[] | null) => (l ? l.reduce((n, g) => n + g.count, 0) : null);
  const typeOf = (l: GpuSpec[] | null) => l?.find((g) => g.type !== null)?.type ?? null;
  const gpusV = val('gpus');
  const perNodeV = val('gpus-per-node');
  const perTaskV = val('gpus-per-task');
  const gresV = val('gres');
  const gpusL = gpusV !== null ? parseGpuList(gpusV) : null;
  const perNodeL = perNodeV !== null ? parseGpuList(perNodeV) : null;
  const perTaskL = perTaskV !== null ? parseGpuList(perTaskV) : null;
  const gres = gresV !== null ? parseGres(gresV) : null;
  r.gres = gresV;
  r.gpusPerNode = sum(perNodeL);
  r.gpusPerTask = sum(perTaskL);
  const candidates: Array<{ option: string; total: number; type: string | null }> = [];
  if (gpusL) candidates.push({ option: 'gpus', total: sum(gpusL) as number, type: typeOf(gpusL) });
  if (perNodeL) candidates.push({ option: 'gpus-per-node', total: (sum(perNodeL) as number) * minNodes, type: typeOf(perNodeL) });
  if (perTaskL) candidates.push({ option: 'gpus-per-task', total: (sum(perTaskL) as number) * r.effectiveTasks, type: typeOf(perTaskL) });
  if (gres?.gpus) candidates.push({ option: 'gres', total: gres.gpus.count * minNodes, type: gres.gpus.type });
  const chosen = candidates[0];
  if (chosen) {
    r.gpus = chosen.total;
    r.gpuType = chosen.type ?? candidates.find((c) => c.type !== null)?.type ?? null;
    for (const c of candidates.slice(1)) {
      if (c.total !== chosen.total) {
        const d = last.get(c.option) as Directive;
        addProblem(ctx, { line: d.line, column: d.column, endColumn: d.endColumn, severity: 'warning', message: `GPUs are requested twice: --${chosen.option} asks for ${chosen.total} in all, --${c.option} for ${c.total}`, option: c.option, source: d.source });
      }
    }
  }

  r.partition = val('partition');
  r.qos = val('qos');
  r.account = val('account');
  r.jobName = val('job-name');
  const array = val('array');
  if (array !== null) {
    const spec = parseArraySpec(array);
    r.array = { spec: array, taskCount: spec.ranges ? countArrayTasks(spec.ranges) : null, throttle: spec.throttle };
  }
  r.output = val('output');
  r.error = val('error');
  r.input = val('input');
  r.chdir = val('chdir');
  r.constraint = val('constraint');
  r.nodelist = val('nodelist');
  r.exclude = val('exclude');
  const excl = last.get('exclusive');
  if (excl) {
    const v = excl.value;
    r.exclusive = v === null ? 'node' : v === 'user' || v === 'mcs' || v === 'topo' ? v : null;
  }
  // --oversubscribe after --exclusive (or the other way round): the later one wins.
  const over = last.get('oversubscribe');
  if (over && excl && directiveOrder(over) > directiveOrder(excl)) r.exclusive = null;
  r.dependency = val('dependency');
  r.begin = val('begin');
  r.deadline = val('deadline');
  r.reservation = val('reservation');
  r.mailType = val('mail-type');
  r.mailUser = val('mail-user');
  r.licenses = val('licenses');
  const rq = last.get('requeue');
  const nrq = last.get('no-requeue');
  if (rq || nrq) r.requeue = !nrq || (rq !== undefined && directiveOrder(rq) > directiveOrder(nrq));
  r.hold = last.has('hold');
  return r;
}

/** Order in which sbatch applies directives: script lines, then the command line. */
function directiveOrder(d: Directive): number {
  return (d.source === 'command-line' ? 1e12 : 0) + d.line * 1e6 + d.column;
}
