// The load-time check of a template's body, on its handlebars AST.
//
// `{{x}}` inserts a value as ONE shell word, quoted when needed. That is only
// safe where the shell reads an unquoted word: inside '...' or "..." the
// inserted quotes would be literal and `$(...)` would run; in a comment (and
// sbatch's `#SBATCH` lines, which no shell reads) a newline in the value would
// end the comment and the rest would run; in a here-document quoting is not
// removed and `$(...)` runs. So the check follows the shell's lexical context
// along every path through the template (both branches of an `if`, zero or
// more rounds of an `each`) and refuses a shell-quoted value anywhere but a
// plain word. Values of the other types (token, integer, number, boolean,
// enum, time, memory) are plain words by construction ([A-Za-z0-9_-.,/:@%+=])
// and may go anywhere, `#SBATCH` lines included.
//
// It also refuses raw output (`{{{x}}}`, `{{& x}}`), partials and decorators,
// helpers other than if/unless/each/with/lookup, and references to anything
// but a declared variable or a `slurm_ml.*` field, so a typo fails when the
// template is loaded rather than when someone's job is rendered.
import type { TemplateVariable } from '../protocol';

/** The values the daemon supplies under the reserved name `slurm_ml`. */
export const CONTEXT_FIELDS = [
  'job_name',
  'run_dir',
  'entrypoint',
  'config',
  'artifact_dir',
  'metrics_file',
  'output_dir',
  'model_dir',
  'model',
  'model_version',
  'input',
  'dataset',
] as const;
export type ContextField = (typeof CONTEXT_FIELDS)[number];

const BLOCK_HELPERS = new Set(['if', 'unless', 'each', 'with']);
const VALUE_HELPERS = new Set(['lookup']);

/** A problem in the template body, with its line. */
export class TemplateCheckError extends Error {
  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`line ${line}: ${problem}`);
    this.name = 'TemplateCheckError';
  }
}

type Frame = { k: 'sq' } | { k: 'ansi' } | { k: 'dq' } | { k: 'bt' } | { k: 'brace' } | { k: 'cmd'; depth: number; fresh: boolean } | { k: 'arith'; depth: number };

/** The shell's lexical state at one point of one path through the template. */
interface Lex {
  stack: Frame[];
  /** In a comment: whether it began the line, and its first characters (to spot `#SBATCH`). */
  comment: { atLineStart: boolean; text: string } | null;
  /** Nothing but blanks so far on this line. */
  lineEmpty: boolean;
  /** The next character starts a word (for `#`). */
  wordStart: boolean;
  /** The previous character in an unquoted context ('' at a line's start). */
  prev: string;
  /** The previous character was a backslash that escapes this one. */
  escaped: boolean;
  /** Reading the delimiter word after `<<`. */
  delim: { strip: boolean; text: string; started: boolean; fresh: boolean } | null;
  /** Here-documents whose bodies begin after this line. */
  pending: { delim: string; strip: boolean }[];
  /** Inside a here-document body. */
  body: { delim: string; strip: boolean; line: string } | null;
}

const START: Lex = { stack: [], comment: null, lineEmpty: true, wordStart: true, prev: '', escaped: false, delim: null, pending: [], body: null };

function clone(l: Lex): Lex {
  return JSON.parse(JSON.stringify(l)) as Lex;
}

const OPERATOR = new Set([';', '&', '|', '<', '>', '(', ')']);

function newline(l: Lex): void {
  l.comment = null;
  l.lineEmpty = true;
  l.wordStart = true;
  l.prev = '';
  const next = l.pending.shift();
  if (next) l.body = { ...next, line: '' };
}

/** Advances the state over one character of literal template text. */
function step(l: Lex, ch: string): void {
  if (l.body) {
    if (ch !== '\n') {
      l.body.line += ch;
      return;
    }
    const line = l.body.strip ? l.body.line.replace(/^\t+/, '') : l.body.line;
    if (line === l.body.delim) {
      l.body = null;
      const next = l.pending.shift();
      if (next) l.body = { ...next, line: '' };
    } else l.body.line = '';
    return;
  }
  if (l.comment) {
    if (ch === '\n') newline(l);
    else if (l.comment.text.length < 8) l.comment.text += ch;
    return;
  }
  if (l.escaped) {
    l.escaped = false;
    if (ch !== '\n') {
      l.wordStart = false;
      l.lineEmpty = false;
      l.prev = 'x';
    }
    return;
  }
  const top = l.stack[l.stack.length - 1];
  if (top?.k === 'cmd' && top.fresh) {
    top.fresh = false;
    // `$((` opens arithmetic, not a command substitution.
    if (ch === '(') {
      l.stack[l.stack.length - 1] = { k: 'arith', depth: 0 };
      return;
    }
  }
  if (l.delim && (top === undefined || top.k === 'cmd')) {
    const d = l.delim;
    if (d.fresh && !d.started && d.text === '') {
      d.fresh = false;
      if (ch === '<') {
        l.delim = null; // `<<<`: a here-string, not a here-document
        return;
      }
      if (ch === '-') {
        d.strip = true;
        return;
      }
    }
    if (!d.started && (ch === ' ' || ch === '\t')) return;
    if (ch === "'" || ch === '"' || ch === '\\') {
      d.started = true;
      return;
    }
    if (ch === ' ' || ch === '\t' || ch === '\n' || OPERATOR.has(ch)) {
      if (d.started) l.pending.push({ delim: d.text, strip: d.strip });
      l.delim = null;
    } else {
      d.text += ch;
      d.started = true;
      return;
    }
  }
  switch (top?.k) {
    case 'sq':
      if (ch === "'") close(l);
      return;
    case 'ansi':
      if (ch === '\\') l.escaped = true;
      else if (ch === "'") close(l);
      return;
    case 'dq':
      if (ch === '"') close(l);
      else if (ch === '\\') l.escaped = true;
      else opener(l, ch);
      l.prev = ch;
      return;
    case 'bt':
      if (ch === '`') close(l);
      else if (ch === '\\') l.escaped = true;
      else if (ch === "'") l.stack.push({ k: 'sq' });
      else if (ch === '"') l.stack.push({ k: 'dq' });
      l.prev = ch;
      return;
    case 'brace':
      if (ch === '}') close(l);
      else if (ch === '\\') l.escaped = true;
      else if (ch === "'") l.stack.push({ k: 'sq' });
      else if (ch === '"') l.stack.push({ k: 'dq' });
      else opener(l, ch);
      l.prev = ch;
      return;
    default:
      unquoted(l, ch, top);
  }
}

function close(l: Lex): void {
  l.stack.pop();
  l.wordStart = false;
  l.lineEmpty = false;
  l.prev = 'x';
}

/** `$(`, `${` and backquotes open nested contexts inside "..." and ${...} too. */
function opener(l: Lex, ch: string): void {
  if (ch === '(' && l.prev === '$') l.stack.push({ k: 'cmd', depth: 0, fresh: true });
  else if (ch === '{' && l.prev === '$') l.stack.push({ k: 'brace' });
  else if (ch === '`') l.stack.push({ k: 'bt' });
}

function unquoted(l: Lex, ch: string, top: Frame | undefined): void {
  const prev = l.prev;
  l.prev = ch;
  if (ch === '\n') {
    newline(l);
    return;
  }
  if (ch === ' ' || ch === '\t') {
    l.wordStart = true;
    return;
  }
  if (ch === '#' && l.wordStart) {
    l.comment = { atLineStart: l.lineEmpty, text: '#' };
    return;
  }
  l.lineEmpty = false;
  l.wordStart = OPERATOR.has(ch);
  switch (ch) {
    case '\\':
      l.escaped = true;
      return;
    case "'":
      l.stack.push(prev === '$' ? { k: 'ansi' } : { k: 'sq' });
      return;
    case '"':
      l.stack.push({ k: 'dq' });
      return;
    case '`':
      l.stack.push({ k: 'bt' });
      return;
    case '{':
      if (prev === '$') l.stack.push({ k: 'brace' });
      return;
    case '(':
      if (prev === '$') l.stack.push({ k: 'cmd', depth: 0, fresh: true });
      else if (top && (top.k === 'cmd' || top.k === 'arith')) top.depth++;
      return;
    case ')':
      if (top && (top.k === 'cmd' || top.k === 'arith')) {
        if (top.depth > 0) top.depth--;
        else l.stack.pop();
      }
      return;
    case '<':
      if (prev === '<' && l.delim === null && top?.k !== 'arith') l.delim = { strip: false, text: '', started: false, fresh: true };
      return;
  }
}

function advance(states: Lex[], text: string): Lex[] {
  return dedupe(
    states.map((s) => {
      const l = clone(s);
      for (const ch of text) step(l, ch);
      return l;
    }),
  );
}

function dedupe(states: Lex[]): Lex[] {
  const seen = new Map<string, Lex>();
  for (const s of states) seen.set(JSON.stringify(s), s);
  return [...seen.values()];
}

const FRAME_NAMES: Record<Frame['k'], string> = {
  sq: "single quotes '...'",
  ansi: "$'...'",
  dq: 'double quotes "..."',
  bt: 'backquotes `...`',
  brace: '${...}',
  cmd: '$(...)',
  arith: '$((...))',
};

/** Why a shell-quoted value cannot go here, or null when it can. */
function quotedProblem(l: Lex): string | null {
  if (l.body || l.delim) {
    return 'is inside a here-document, where quotes are not removed and $(...) runs; export it as an environment variable before the here-document and use that';
  }
  if (l.comment) {
    const head = l.comment.text;
    if (l.comment.atLineStart && (head.startsWith('#SBATCH') || '#SBATCH'.startsWith(head))) {
      return 'is shell-quoted text in an #SBATCH line: sbatch reads these lines without a shell, so the quotes would be kept literally; declare the variable as token, integer, time, memory or enum';
    }
    return 'is shell-quoted text in a comment: a newline in the value would end the comment and the rest would run as a command';
  }
  if (l.escaped) return 'follows a backslash, which would escape the opening quote of the value';
  const top = l.stack[l.stack.length - 1];
  if (top && top.k !== 'cmd') {
    return `is inside ${FRAME_NAMES[top.k]}; a value is inserted already quoted as one shell word, so write it bare (quotes around it would be literal and let $(...) run)`;
  }
  if (l.prev === '$') return 'follows "$", which would turn the quoted value into $\'...\' (ANSI-C quoting)';
  return null;
}

type Kind = 'plain' | 'quoted';

interface Scope {
  /** Inside each/with the context is something else: references cannot be resolved statically. */
  nested: boolean;
}

export interface CheckOptions {
  variables: readonly TemplateVariable[];
}

/** Checks a parsed template; throws TemplateCheckError on the first problem found. */
export function checkTemplate(program: hbs.AST.Program, o: CheckOptions): void {
  const vars = new Map(o.variables.map((v) => [v.name, v]));
  const declared = o.variables.map((v) => v.name).join(', ') || 'none';

  const line = (n: hbs.AST.Node) => n.loc?.start.line ?? 0;
  const fail = (n: hbs.AST.Node, problem: string): never => {
    throw new TemplateCheckError(line(n), problem);
  };

  /** A reference to a value (not a helper name) at the template's own scope must be declared. */
  const checkReference = (p: hbs.AST.PathExpression, scope: Scope, asParam = false): Kind => {
    if (p.data || scope.nested || p.parts.length === 0 || /^(this\b|\.)/.test(p.original)) return 'quoted';
    const [head, ...rest] = p.parts as [string, ...string[]];
    if (head === 'slurm_ml') {
      // `{{#with slurm_ml}}` may take the whole object; printing it or an unknown field may not.
      if (asParam && rest.length === 0) return 'quoted';
      if (rest.length !== 1 || !(CONTEXT_FIELDS as readonly string[]).includes(rest[0]!)) {
        fail(p, `{{${p.original}}}: slurm_ml has ${CONTEXT_FIELDS.join(', ')}`);
      }
      return 'quoted';
    }
    const v = vars.get(head);
    if (!v) return fail(p, `{{${p.original}}}: unknown variable "${head}" (declared: ${declared}; the daemon's values are slurm_ml.*)`);
    if (rest.length > 0) fail(p, `{{${p.original}}}: variable "${head}" is a ${v.type}, it has no fields`);
    return v.type === 'string' ? 'quoted' : 'plain';
  };

  const checkExpressions = (exprs: hbs.AST.Expression[], hash: hbs.AST.Hash | undefined, scope: Scope) => {
    for (const e of [...exprs, ...(hash?.pairs.map((p) => p.value) ?? [])]) {
      if (e.type === 'PathExpression') checkReference(e as hbs.AST.PathExpression, scope, true);
      else if (e.type === 'SubExpression') {
        const sub = e as hbs.AST.SubExpression;
        if (!VALUE_HELPERS.has(sub.path.original)) fail(sub, `(${sub.path.original} ...): the only helper usable in an expression is lookup`);
        checkExpressions(sub.params, sub.hash, scope);
      }
    }
  };

  const walk = (prog: hbs.AST.Program | undefined, states: Lex[], scope: Scope): Lex[] => {
    if (!prog) return states;
    for (const node of prog.body) {
      switch (node.type) {
        case 'ContentStatement':
          states = advance(states, (node as hbs.AST.ContentStatement).value);
          break;
        case 'CommentStatement':
          break;
        case 'MustacheStatement': {
          const m = node as hbs.AST.MustacheStatement;
          const shown = m.path.type === 'PathExpression' ? (m.path as hbs.AST.PathExpression).original : String((m.path as hbs.AST.StringLiteral).original);
          if (!m.escaped) fail(m, `{{{${shown}}}} / {{& ${shown}}}: raw output is not allowed; {{${shown}}} inserts the value safely`);
          let kind: Kind = 'quoted';
          if (m.params.length > 0 || m.hash) {
            if (m.path.type !== 'PathExpression' || !VALUE_HELPERS.has(shown)) fail(m, `{{${shown} ...}}: unknown helper "${shown}" (only lookup gives a value)`);
            checkExpressions(m.params, m.hash, scope);
          } else if (m.path.type === 'PathExpression') {
            kind = checkReference(m.path as hbs.AST.PathExpression, scope);
          }
          if (kind === 'quoted') {
            for (const s of states) {
              const problem = quotedProblem(s);
              if (problem) fail(m, `{{${shown}}} ${problem}`);
            }
          }
          // Either way the value is one word made of ordinary characters.
          states = advance(states, 'x');
          break;
        }
        case 'BlockStatement': {
          const b = node as hbs.AST.BlockStatement;
          const helper = b.path.original;
          if (!BLOCK_HELPERS.has(helper)) fail(b, `{{#${helper}}}: unknown block helper (if, unless, each, with)`);
          checkExpressions(b.params, b.hash, scope);
          if (helper === 'if' || helper === 'unless') {
            states = dedupe([...walk(b.program, states, scope), ...walk(b.inverse, states, scope)]);
          } else {
            const inner: Scope = { nested: true };
            let all = helper === 'each' ? [...states] : [];
            let round = states;
            for (let i = 0; i < (helper === 'each' ? 4 : 1); i++) {
              round = walk(b.program, round, inner);
              all = dedupe([...all, ...round]);
            }
            states = dedupe([...all, ...(b.inverse ? walk(b.inverse, states, scope) : helper === 'with' ? states : [])]);
          }
          break;
        }
        case 'PartialStatement':
        case 'PartialBlockStatement':
          fail(node, 'partials ({{> name}}) are not supported');
          break;
        default:
          fail(node, `${node.type} is not supported`);
      }
    }
    return states;
  };

  walk(program, [START], { nested: false });
}
