// A template's variables as a zod schema: values arrive from JSON clients
// (numbers, booleans) or from the CLI (`--var cpus=4`, always text) and are
// coerced by the variable's type, checked, and defaulted. Every error names
// the variable, since that is what the person has to fix.
import { z } from 'zod';
import { ErrorCode, type TemplateVariable } from '../protocol';
import { RpcError } from '../rpc/connection';
import { SHELL_SAFE, TOKEN } from './header';

/** A value after coercion; null for an optional variable left unset. */
export type TemplateValue = string | number | boolean | null;

/** The largest string value (characters). */
export const MAX_STRING = 65_536;

/** sbatch's time forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, and no limit. */
const SLURM_TIME = /^(\d+-\d{1,2}(:\d{1,2}){0,2}|\d+(:\d{1,2}){0,2}|UNLIMITED|INFINITE)$/i;
const SLURM_MEMORY = /^\d+[KMGT]?$/;
const INTEGER_TEXT = /^[+-]?\d{1,15}$/;
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE_TEXT = /^(true|yes|on|1)$/i;
const FALSE_TEXT = /^(false|no|off|0)$/i;

function shown(input: unknown): string {
  const s = typeof input === 'string' ? JSON.stringify(input) : typeof input === 'object' ? JSON.stringify(input) ?? String(input) : String(input);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Compiles a token variable's own pattern so that it must match the whole value. */
function wholePattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

type Outcome = { ok: true; value: string | number | boolean } | { ok: false; problem: string };

/** Coerces one value for one variable; the problem says what was expected and what came. */
export function coerceValue(v: TemplateVariable, input: unknown): Outcome {
  const fail = (expected: string): Outcome => ({ ok: false, problem: `expected ${expected}, got ${shown(input)}` });
  const text = typeof input === 'string' ? input : typeof input === 'number' && Number.isFinite(input) ? String(input) : undefined;
  switch (v.type) {
    case 'string': {
      const s = typeof input === 'boolean' ? String(input) : text;
      if (s === undefined) return fail('text');
      if (s.length > MAX_STRING) return { ok: false, problem: `longer than ${MAX_STRING} characters (${s.length})` };
      if (s.includes('\0')) return { ok: false, problem: 'must not contain NUL characters' };
      return { ok: true, value: s };
    }
    case 'token': {
      if (text === undefined || text.length > 4096) return fail('a token');
      if (v.pattern !== null) {
        // The own pattern narrows what is accepted; it can never let shell syntax through.
        if (!wholePattern(v.pattern).test(text)) return fail(`a token matching /${v.pattern}/`);
        if (!SHELL_SAFE.test(text)) return fail('a token (letters, digits and _ - . , / : @ % + =)');
      } else if (!TOKEN.test(text)) {
        return fail('a token (letters, digits and . _ : = / + -)');
      }
      return { ok: true, value: text };
    }
    case 'integer':
    case 'number': {
      let n: number | undefined;
      if (typeof input === 'number') n = input;
      else if (typeof input === 'string' && (v.type === 'integer' ? INTEGER_TEXT : NUMBER_TEXT).test(input.trim())) n = Number(input.trim());
      const what = v.type === 'integer' ? 'an integer' : 'a number';
      if (n === undefined || !Number.isFinite(n) || (v.type === 'integer' && !Number.isSafeInteger(n))) return fail(what);
      if (v.min !== null && n < v.min) return { ok: false, problem: `must be at least ${v.min}, got ${shown(input)}` };
      if (v.max !== null && n > v.max) return { ok: false, problem: `must be at most ${v.max}, got ${shown(input)}` };
      // -0 would print as "0" anyway; normalise so the recorded value matches the script.
      return { ok: true, value: n === 0 ? 0 : n };
    }
    case 'boolean': {
      if (typeof input === 'boolean') return { ok: true, value: input };
      if (typeof input === 'string' && TRUE_TEXT.test(input.trim())) return { ok: true, value: true };
      if (typeof input === 'string' && FALSE_TEXT.test(input.trim())) return { ok: true, value: false };
      if (input === 1 || input === 0) return { ok: true, value: input === 1 };
      return fail('true or false');
    }
    case 'enum': {
      const values = v.values ?? [];
      if (text === undefined || !values.includes(text)) return fail(`one of ${values.join(', ')}`);
      return { ok: true, value: text };
    }
    case 'time':
      if (text === undefined || !SLURM_TIME.test(text)) return fail('a SLURM time (MM, HH:MM:SS, D-HH:MM:SS or UNLIMITED)');
      return { ok: true, value: text };
    case 'memory':
      if (text === undefined || !SLURM_MEMORY.test(text)) return fail('memory as a number with an optional K, M, G or T suffix (4000M, 16G)');
      return { ok: true, value: text };
  }
}

/** The zod schema of a template's values: unknown names refused, required ones demanded, defaults applied. */
export function valuesSchema(variables: readonly TemplateVariable[]) {
  const shape: Record<string, z.ZodType<TemplateValue>> = {};
  for (const v of variables) {
    shape[v.name] = z.unknown().transform((input, ctx): TemplateValue => {
      if (input === undefined || input === null) {
        if (v.default !== null) input = v.default;
        else if (v.required) {
          ctx.addIssue({ code: 'custom', message: `variable "${v.name}" is required${v.description ? ` (${v.description})` : ''}` });
          return z.NEVER;
        } else return null;
      }
      const r = coerceValue(v, input);
      if (r.ok) return r.value;
      ctx.addIssue({ code: 'custom', message: `variable "${v.name}": ${r.problem}` });
      return z.NEVER;
    });
  }
  return z.object(shape).strict();
}

/**
 * Validates values against a template's variables; throws InvalidParams
 * naming the first offending variable (`field: values.NAME`).
 */
export function validateValues(template: string, variables: readonly TemplateVariable[], values: Record<string, unknown>): Record<string, TemplateValue> {
  // Unset variables are null (zod treats an absent key of an unknown-typed field as optional).
  const input: Record<string, unknown> = Object.fromEntries(variables.map((v) => [v.name, null]));
  for (const [k, v] of Object.entries(values)) if (v !== undefined) input[k] = v;
  const r = valuesSchema(variables).safeParse(input);
  if (r.success) return r.data;
  // An unknown name is reported first: it is usually a typo of one of the others.
  const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const name = unknown.keys[0]!;
    const message =
      name === 'slurm_ml'
        ? 'variable "slurm_ml" is reserved: the daemon supplies it'
        : `unknown variable "${name}": template ${template} has ${variables.length ? variables.map((v) => v.name).join(', ') : 'no variables'}`;
    throw new RpcError(ErrorCode.InvalidParams, message, { field: `values.${name}` });
  }
  const issue = r.error.issues[0]!;
  throw new RpcError(ErrorCode.InvalidParams, issue.message, { field: `values.${String(issue.path[0])}` });
}
