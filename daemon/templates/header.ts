// The header every template starts with: a handlebars comment holding JSON,
//   {{!-- slurm-ml {"kind": "train", "description": "...", "variables": [...]} --}}
// parsed strictly (unknown keys are typos, not extensions) so a template
// that loads is one whose variables can be trusted by the checks that follow.
import { z } from 'zod';
import { JobKind, type TemplateVariable } from '../protocol';

/** What shellQuote leaves bare: characters no POSIX shell gives a meaning to. */
export const SHELL_SAFE = /^[A-Za-z0-9_\-.,/:@%+=]+$/;
/** The default charset of a `token` variable. */
export const TOKEN = /^[A-Za-z0-9._:=/+-]+$/;

/** Variable names are handlebars identifiers without surprises (no dots, no keywords). */
const VARIABLE_NAME = /^(?!__)[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const RESERVED_NAMES = new Set(['slurm_ml', 'this', 'else', 'true', 'false', 'null', 'undefined']);

const VariableType = z.enum(['string', 'token', 'integer', 'number', 'boolean', 'enum', 'time', 'memory']);

const HeaderVariable = z
  .object({
    name: z
      .string()
      .regex(VARIABLE_NAME, 'a variable name is letters, digits and "_", not starting with a digit or "__"'),
    type: VariableType,
    description: z.string().max(2000).default(''),
    required: z.boolean().optional(),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    values: z.array(z.string().regex(SHELL_SAFE, 'an enum value is a plain word (letters, digits and _ - . , / : @ % + =)')).min(1).optional(),
    pattern: z.string().max(1000).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (RESERVED_NAMES.has(v.name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `"${v.name}" is reserved${v.name === 'slurm_ml' ? ' for the values the daemon supplies' : ''}` });
    }
    const only = (key: 'values' | 'pattern' | 'min' | 'max', types: string[]) => {
      if (v[key] !== undefined && !types.includes(v.type)) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" applies to ${types.join('/')} variables, not ${v.type}` });
    };
    only('values', ['enum']);
    only('pattern', ['token']);
    only('min', ['integer', 'number']);
    only('max', ['integer', 'number']);
    if (v.type === 'enum' && v.values === undefined) ctx.addIssue({ code: 'custom', path: ['values'], message: 'an enum variable needs "values"' });
    if (v.pattern !== undefined) {
      try {
        new RegExp(v.pattern);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: `not a regular expression: ${(err as Error).message}` });
      }
    }
    if (v.required === true && v.default !== undefined) ctx.addIssue({ code: 'custom', path: ['required'], message: 'a variable with a default is not required' });
  });

/** `{{name}}`, the whole value: the tracker setting comes from that variable. */
const VARIABLE_REF = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;
/** A literal setting: one line, no control characters (it becomes an environment variable). */
const TrackerSetting = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must be one line without control characters');

/**
 * An MLflow tracker the template's jobs report to: each setting a literal or
 * `{{variable}}`. The job gets them as MLFLOW_TRACKING_URI and
 * MLFLOW_EXPERIMENT_NAME; a variable left unset means no tracker.
 */
const HeaderMlflow = z
  .object({
    trackingUri: TrackerSetting(2048),
    experimentName: TrackerSetting(512).optional(),
  })
  .strict();

const Header = z
  .object({
    kind: JobKind,
    description: z.string().max(2000).default(''),
    variables: z.array(HeaderVariable).max(200).default([]),
    mlflow: HeaderMlflow.optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    const seen = new Set<string>();
    h.variables.forEach((v, i) => {
      if (seen.has(v.name)) ctx.addIssue({ code: 'custom', path: ['variables', i, 'name'], message: `variable "${v.name}" is declared twice` });
      seen.add(v.name);
    });
    for (const key of ['trackingUri', 'experimentName'] as const) {
      const ref = VARIABLE_REF.exec(h.mlflow?.[key] ?? '');
      if (ref && !seen.has(ref[1]!)) ctx.addIssue({ code: 'custom', path: ['mlflow', key], message: `refers to variable "${ref[1]}", which is not declared` });
    }
  });

/** A tracker setting: a literal, or the name of the variable it comes from. */
export type TrackerSetting = { literal: string } | { variable: string };

function trackerSetting(value: string): TrackerSetting {
  const ref = VARIABLE_REF.exec(value);
  return ref ? { variable: ref[1]! } : { literal: value };
}

export interface ParsedHeader {
  kind: JobKind;
  description: string;
  variables: TemplateVariable[];
  /** The MLflow tracker the template declares, if any. */
  mlflow: { trackingUri: TrackerSetting; experimentName: TrackerSetting | null } | null;
  /** The template's text after the header (the header comment renders to nothing anyway). */
  bodyOffset: number;
}

/** A template file that cannot be used, with the file and the problem named. */
export class TemplateError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`template ${file}: ${problem}`);
    this.name = 'TemplateError';
  }
}

const HEADER_START = /^\{\{!--\s*slurm-ml(?=\s)/;

/** Parses the header at the start of `text`; `file` only names the file in errors. */
export function parseHeader(file: string, text: string): ParsedHeader {
  const start = HEADER_START.exec(text);
  if (!start) {
    throw new TemplateError(
      file,
      'does not start with a header: the file must begin with {{!-- slurm-ml {"kind": ..., "variables": [...]} --}} (nothing before it, not even a blank line: the script\'s first line must be #!)',
    );
  }
  const end = text.indexOf('--}}', start[0].length);
  if (end < 0) throw new TemplateError(file, 'header: the {{!-- slurm-ml comment is never closed with --}}');
  const json = text.slice(start[0].length, end);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new TemplateError(file, `header: not JSON: ${(err as Error).message}`);
  }
  const r = Header.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    let where = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    // Name the variable rather than its index when it has a name.
    const m = /^\.variables\[(\d+)\](.*)$/.exec(where);
    const declared = (raw as { variables?: { name?: unknown }[] } | null)?.variables?.[Number(m?.[1])]?.name;
    if (m && typeof declared === 'string') where = `variable "${declared}"${m[2] ? ` ${m[2].slice(1)}` : ''}`;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    throw new TemplateError(file, `header: ${where ? `${where.replace(/^\./, '')}: ` : ''}${message}`);
  }
  const variables = r.data.variables.map(
    (v): TemplateVariable => ({
      name: v.name,
      type: v.type,
      description: v.description,
      required: v.required ?? v.default === undefined,
      default: v.default ?? null,
      values: v.values ?? null,
      pattern: v.pattern ?? null,
      min: v.min ?? null,
      max: v.max ?? null,
    }),
  );
  const m = r.data.mlflow;
  const mlflow = m ? { trackingUri: trackerSetting(m.trackingUri), experimentName: m.experimentName === undefined ? null : trackerSetting(m.experimentName) } : null;
  return { kind: r.data.kind, description: r.data.description, variables, mlflow, bodyOffset: end + 4 };
}
