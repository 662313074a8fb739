// sbatch templates: `NAME.sbatch.hbs` files, builtin ones shipped in
// templates/ and a workspace's own in WORKSPACE/.slurm-ml/templates/ (which
// override builtin ones of the same name). Each is loaded once per version of
// the file (path, mtime, size), checked (header, shell contexts), compiled,
// and rendered with validated values plus the daemon's `slurm_ml` values.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Handlebars from 'handlebars';
import { ErrorCode, type TemplateInfo } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { Logger } from '../log';
import { parseHeader, TemplateError, type ParsedHeader, type TrackerSetting } from './header';
import { shellQuote } from '../ssh/quote';
import { checkTemplate, CONTEXT_FIELDS, TemplateCheckError, type ContextField } from './check';
import { coerceValue, validateValues, type TemplateValue } from './values';
import { COMPILE_OPTIONS, createEngine } from './engine';

export { CONTEXT_FIELDS, type ContextField } from './check';
export { TemplateError } from './header';
export type { TemplateValue } from './values';

export const TEMPLATE_SUFFIX = '.sbatch.hbs';
/** Where a workspace keeps its own templates, relative to the workspace. */
export const WORKSPACE_TEMPLATES = path.join('.slurm-ml', 'templates');
const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The values the daemon supplies as `slurm_ml.*`: absolute paths on the
 * cluster or plain values, '' where they do not apply (no config, a train
 * job's input). Templates insert them shell-quoted.
 */
export type TemplateContext = Record<ContextField, string>;

export function emptyContext(): TemplateContext {
  return Object.fromEntries(CONTEXT_FIELDS.map((f) => [f, ''])) as TemplateContext;
}

export interface RenderedTemplate {
  template: TemplateInfo;
  script: string;
  /** Every declared variable after defaults and coercion (null: optional, unset). */
  values: Record<string, TemplateValue>;
  /** The MLflow tracker the job reports to (exported into the script), or null. */
  mlflow: MlflowTracker | null;
}

/** An MLflow tracker as a job receives it: MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME. */
export interface MlflowTracker {
  trackingUri: string;
  experimentName: string | null;
}

interface CompiledTemplate {
  info: TemplateInfo;
  render: Handlebars.TemplateDelegate;
  mlflow: ParsedHeader['mlflow'];
}

/** A tracker setting's value: the literal, or the variable's value ('' or null when unset). */
function trackerValue(setting: TrackerSetting | null, values: Record<string, TemplateValue>): string | null {
  if (setting === null) return null;
  const v = 'literal' in setting ? setting.literal : values[setting.variable];
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  if (/[\u0000-\u001f\u007f]/.test(s)) {
    const name = 'variable' in setting ? `variable "${setting.variable}"` : 'the MLflow setting';
    throw new RpcError(ErrorCode.InvalidParams, `${name}: an MLflow setting must be one line without control characters`, { field: 'variable' in setting ? `values.${setting.variable}` : 'template' });
  }
  return s === '' ? null : s;
}

/**
 * Puts the tracker's environment into a rendered script right after its
 * directive block (sbatch reads #SBATCH lines only until the first command),
 * so every template that declares a tracker exports it, whatever its body does.
 */
export function withTrackerEnv(script: string, t: MlflowTracker): string {
  const lines = script.split('\n');
  let at = lines.length;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l !== '' && !l.startsWith('#')) {
      at = i;
      break;
    }
  }
  const env = [
    '# MLflow tracking declared by the template (slurm-ml): report the run id with a line SLURM_ML_MLFLOW_RUN_ID=ID on stdout',
    `export MLFLOW_TRACKING_URI=${shellQuote(t.trackingUri)}`,
    ...(t.experimentName === null ? [] : [`export MLFLOW_EXPERIMENT_NAME=${shellQuote(t.experimentName)}`]),
  ];
  return [...lines.slice(0, at), ...env, ...lines.slice(at)].join('\n');
}

/**
 * Checks and compiles one template from its text. `file` names it in errors;
 * throws TemplateError naming the file and the problem.
 */
export function compileTemplate(
  hb: typeof Handlebars,
  meta: { name: string; source: TemplateInfo['source']; path: string },
  text: string,
): CompiledTemplate {
  const file = meta.path;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const header = parseHeader(file, text);
  for (const v of header.variables) {
    if (v.default === null) continue;
    const r = coerceValue(v, v.default);
    if (!r.ok) throw new TemplateError(file, `header: variable "${v.name}" default: ${r.problem}`);
  }
  if (!text.slice(header.bodyOffset).replace(/^[ \t]*\r?\n/, '').startsWith('#!')) {
    throw new TemplateError(file, 'the line after the header must be the interpreter line (#!/bin/bash): sbatch refuses a script that does not start with #!');
  }
  let ast: hbs.AST.Program;
  try {
    ast = hb.parse(text);
  } catch (err) {
    throw new TemplateError(file, `not a valid handlebars template: ${(err as Error).message}`);
  }
  try {
    checkTemplate(ast, { variables: header.variables });
  } catch (err) {
    if (err instanceof TemplateCheckError) throw new TemplateError(file, err.message);
    throw err;
  }
  const render = hb.compile(text, COMPILE_OPTIONS);
  return {
    info: { name: meta.name, kind: header.kind, description: header.description, source: meta.source, path: meta.path, variables: header.variables },
    render,
    mlflow: header.mlflow,
  };
}

/**
 * The builtin templates directory: `<root>/templates` both from the sources
 * (this file is `<root>/daemon/templates/service.ts`) and from the bundle
 * (`<root>/dist/daemon.js`, root being the repository or the installed
 * extension). Null when neither holds a template.
 */
export function findBuiltinTemplatesDir(from: string = __dirname): string | null {
  for (const dir of [path.resolve(from, '..', 'templates'), path.resolve(from, '..', '..', 'templates')]) {
    try {
      if (fs.readdirSync(dir).some((f) => f.endsWith(TEMPLATE_SUFFIX))) return dir;
    } catch {
      // not this one
    }
  }
  return null;
}

export interface TemplateServiceOptions {
  /** The shipped templates; null when they could not be found (only workspace templates then). */
  builtinDir: string | null;
  log?: Logger;
}

interface TemplateFile {
  name: string;
  source: TemplateInfo['source'];
  path: string;
}

export class TemplateService {
  private readonly hb = createEngine();
  private readonly cache = new Map<string, { mtimeMs: number; size: number; source: TemplateInfo['source']; compiled: CompiledTemplate }>();

  constructor(private readonly o: TemplateServiceOptions) {}

  get builtinDir(): string | null {
    return this.o.builtinDir;
  }

  /** Every template the workspace can use, by name; a workspace template hides a builtin one of the same name. */
  list(workspace?: string): TemplateInfo[] {
    return [...this.files(workspace).values()].sort((a, b) => a.name.localeCompare(b.name)).map((f) => this.load(f).info);
  }

  /** One template's header; NotFound when neither the workspace nor the builtin ones have it. */
  get(name: string, workspace?: string): TemplateInfo {
    return this.load(this.find(name, workspace)).info;
  }

  /** Checks values against a template's variables without rendering: what render would use. */
  validate(name: string, values: Record<string, unknown>, workspace?: string): Record<string, TemplateValue> {
    const t = this.load(this.find(name, workspace));
    return validateValues(t.info.name, t.info.variables, values);
  }

  /**
   * Renders a template: values are validated and coerced against its
   * variables (InvalidParams naming `values.NAME`), context fields missing
   * from `context` are ''.
   */
  render(name: string, values: Record<string, unknown>, context: Partial<Record<ContextField, string | number | null>> = {}, workspace?: string): RenderedTemplate {
    return this.renderCompiled(this.load(this.find(name, workspace)), values, context);
  }

  /**
   * Renders a template from its text (an editor's unsaved buffer), checked
   * like a file; its problems are InvalidParams naming the template.
   */
  renderSource(name: string, text: string, values: Record<string, unknown>, context: Partial<Record<ContextField, string | number | null>> = {}): RenderedTemplate {
    let t: CompiledTemplate;
    try {
      t = compileTemplate(this.hb, { name, source: 'workspace', path: `${name}${TEMPLATE_SUFFIX} (unsaved text)` }, text);
    } catch (err) {
      if (err instanceof TemplateError) throw new RpcError(ErrorCode.InvalidParams, err.message, { field: 'source' });
      throw err;
    }
    return this.renderCompiled(t, values, context);
  }

  private renderCompiled(t: CompiledTemplate, values: Record<string, unknown>, context: Partial<Record<ContextField, string | number | null>>): RenderedTemplate {
    const checked = validateValues(t.info.name, t.info.variables, values);
    const slurmMl = contextValues(context);
    const data: Record<string, unknown> = { slurm_ml: slurmMl };
    for (const v of t.info.variables) {
      const value = checked[v.name] ?? null;
      // Plain words go in unquoted: they are what #SBATCH lines take. Strings get shell quoting.
      data[v.name] = typeof value === 'string' && v.type !== 'string' ? new this.hb.SafeString(value) : value;
    }
    let script: string;
    try {
      script = t.render(data);
    } catch (err) {
      throw new RpcError(ErrorCode.InvalidParams, `template ${t.info.name} (${t.info.path}): ${(err as Error).message}`, { field: 'template' });
    }
    const mlflow = this.trackerOf(t, checked);
    if (mlflow) script = withTrackerEnv(script, mlflow);
    return { template: t.info, script, values: checked, mlflow };
  }

  /** The MLflow tracker a template's jobs report to with these values; null when it declares none or its variable is unset. */
  tracker(name: string, values: Record<string, unknown>, workspace?: string): MlflowTracker | null {
    const t = this.load(this.find(name, workspace));
    return this.trackerOf(t, validateValues(t.info.name, t.info.variables, values));
  }

  private trackerOf(t: CompiledTemplate, values: Record<string, TemplateValue>): MlflowTracker | null {
    if (!t.mlflow) return null;
    const trackingUri = trackerValue(t.mlflow.trackingUri, values);
    if (trackingUri === null) return null;
    return { trackingUri, experimentName: trackerValue(t.mlflow.experimentName, values) };
  }

  private files(workspace?: string): Map<string, TemplateFile> {
    const out = new Map<string, TemplateFile>();
    const scan = (dir: string, source: TemplateInfo['source']) => {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw new RpcError(ErrorCode.InvalidParams, `cannot read templates in ${dir}: ${(err as Error).message}`, { field: 'workspace' });
      }
      for (const f of names) {
        if (!f.endsWith(TEMPLATE_SUFFIX)) continue;
        const name = f.slice(0, -TEMPLATE_SUFFIX.length);
        if (!TEMPLATE_NAME.test(name)) {
          this.o.log?.warn('template file ignored: its name is not a plain word', { path: path.join(dir, f) });
          continue;
        }
        out.set(name, { name, source, path: path.join(dir, f) });
      }
    };
    if (this.o.builtinDir) scan(this.o.builtinDir, 'builtin');
    if (workspace) scan(path.join(workspace, WORKSPACE_TEMPLATES), 'workspace');
    return out;
  }

  private find(name: string, workspace?: string): TemplateFile {
    const files = this.files(workspace);
    const f = files.get(name);
    if (f) return f;
    const where = [workspace ? path.join(workspace, WORKSPACE_TEMPLATES) : null, this.o.builtinDir ?? '(builtin templates not found)'].filter(Boolean).join(', ');
    throw new RpcError(ErrorCode.NotFound, `no template "${name}" in ${where}; available: ${[...files.keys()].sort().join(', ') || 'none'}`, { field: 'template' });
  }

  private load(f: TemplateFile): CompiledTemplate {
    let text: string;
    let st: fs.Stats;
    try {
      st = fs.statSync(f.path);
      const hit = this.cache.get(f.path);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size && hit.source === f.source) return hit.compiled;
      text = fs.readFileSync(f.path, 'utf8');
    } catch (err) {
      throw new RpcError(ErrorCode.InvalidParams, `cannot read template ${f.path}: ${(err as Error).message}`, { field: 'template' });
    }
    try {
      const compiled = compileTemplate(this.hb, f, text);
      this.cache.set(f.path, { mtimeMs: st.mtimeMs, size: st.size, source: f.source, compiled });
      return compiled;
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      // A broken shipped template is our bug; a broken workspace one is the user's to fix.
      if (f.source === 'builtin') throw new RpcError(ErrorCode.InternalError, err.message);
      throw new RpcError(ErrorCode.InvalidParams, err.message, { field: 'template' });
    }
  }
}

function contextValues(context: Partial<Record<ContextField, string | number | null>>): TemplateContext {
  const out = emptyContext();
  for (const [k, v] of Object.entries(context)) {
    if (!(CONTEXT_FIELDS as readonly string[]).includes(k)) throw new RpcError(ErrorCode.InternalError, `slurm_ml has no field "${k}"`);
    if (v === null || v === undefined) continue;
    const s = String(v);
    if (s.includes('\0')) throw new RpcError(ErrorCode.InvalidParams, `${k} must not contain NUL characters`, { field: k });
    out[k as ContextField] = s;
  }
  return out;
}
