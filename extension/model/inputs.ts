// Validation shown inline while the user types into the multi-step inputs:
// the same checks the daemon applies, so a value accepted here is not
// refused after submit.
import { ClusterConfig, ClusterName, ModelName, type TemplateVariable } from '../../daemon/protocol';
import { coerceValue } from '../../daemon/templates/values';

/** undefined when acceptable; otherwise what is wrong. An empty optional value is acceptable (left unset). */
export function validateVariable(v: TemplateVariable, text: string): string | undefined {
  if (text === '') return v.required && v.default === null ? `${v.name} is required` : undefined;
  const r = coerceValue(v, text);
  return r.ok ? undefined : `${v.name}: ${r.problem}`;
}

/** The value sent for a variable's text: undefined leaves it to the template's default. */
export function variableValue(v: TemplateVariable, text: string): string | number | boolean | undefined {
  if (text === '') return undefined;
  const r = coerceValue(v, text);
  return r.ok ? r.value : text;
}

/** A hint for the input box: type, allowed values, range, default. */
export function variablePrompt(v: TemplateVariable): string {
  const parts = [v.description || v.name, `(${v.type}`];
  if (v.values) parts[1] += `: ${v.values.join(' | ')}`;
  if (v.min !== null || v.max !== null) parts[1] += `, ${v.min ?? ''}..${v.max ?? ''}`;
  parts[1] += v.required ? ', required)' : ', optional)';
  return parts.join(' ');
}

function zodMessage(r: { success: boolean; error?: { issues: { message: string }[] } }): string | undefined {
  return r.success ? undefined : r.error?.issues[0]?.message ?? 'invalid';
}

export function validateClusterName(text: string): string | undefined {
  return zodMessage(ClusterName.safeParse(text));
}

export function validateModelName(text: string): string | undefined {
  return zodMessage(ModelName.safeParse(text));
}

/** Checks one field of a cluster's settings the way clusters/add will. */
export function validateClusterField(field: 'sshAlias' | 'host' | 'user' | 'identityFile', text: string): string | undefined {
  const probe = { name: 'x', host: 'h', [field]: text };
  const r = ClusterConfig.safeParse(probe);
  if (r.success) return undefined;
  return r.error.issues.find((i) => i.path[0] === field)?.message ?? r.error.issues[0]?.message;
}

export function validatePort(text: string): string | undefined {
  if (text === '') return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? undefined : 'a port is a number from 1 to 65535';
}
