// `slurm-ml templates` and `slurm-ml render`: the sbatch templates a workspace
// can use, and the script one gives for some values (nothing is submitted).
import * as path from 'node:path';
import { TemplatesList, TemplatesRender, type TemplateInfo, type TemplateVariable } from '../protocol';
import { Exit, need, parse, print, withDaemon } from './common';
import { keyValues } from './ml';

function describeVariable(v: TemplateVariable): string {
  const type = v.type === 'enum' ? `enum ${(v.values ?? []).join('|')}` : v.type;
  const range = v.min !== null || v.max !== null ? ` ${v.min ?? ''}..${v.max ?? ''}` : '';
  const state = v.required ? 'required' : v.default !== null ? `= ${JSON.stringify(v.default)}` : 'optional';
  return `    ${v.name.padEnd(12)} ${`${type}${range}`.padEnd(16)} ${state.padEnd(14)} ${v.description}`;
}

export function formatTemplates(templates: TemplateInfo[]): string {
  if (templates.length === 0) return 'no templates';
  return templates
    .map((t) => [`${t.name} (${t.kind}, ${t.source}: ${t.path})`, ...(t.description ? [`  ${t.description}`] : []), ...t.variables.map(describeVariable)].join('\n'))
    .join('\n\n');
}

/** `templates [--workspace DIR] [--json]` */
export async function templatesCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { workspace: { type: 'string' } }, 0);
  const workspace = path.resolve(values.workspace ?? process.cwd());
  const { templates } = await withDaemon((rpc) => rpc.request(TemplatesList, { workspace }));
  print(values.json, { templates }, () => formatTemplates(templates));
  return Exit.Ok;
}

/** `render TEMPLATE [--workspace DIR] [--var k=v]... [--json]`: the script alone on stdout, so it can be saved and submitted. */
export async function renderCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { workspace: { type: 'string' }, var: { type: 'string', multiple: true } }, 1);
  const template = need(positionals[0], 'TEMPLATE');
  const workspace = path.resolve(values.workspace ?? process.cwd());
  const r = await withDaemon((rpc) => rpc.request(TemplatesRender, { template, workspace, values: keyValues(values.var, '--var') }));
  if (values.json) print(true, r, () => '');
  else process.stdout.write(r.script);
  return Exit.Ok;
}
