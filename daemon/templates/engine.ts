// The handlebars instance templates are compiled with. `{{x}}` goes through
// escapeExpression, which here is shell quoting instead of HTML escaping, so
// a value is one shell word by default; values already checked to be plain
// words (token, enum, time, memory) come as SafeString and numbers and
// booleans as themselves, all unquoted. Strict mode makes an unknown
// reference an error instead of an empty string.
import Handlebars from 'handlebars';
import { shellQuote } from '../ssh/quote';

type Hb = typeof Handlebars;

/** What `{{x}}` prints for a value. */
export function shellEscape(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && typeof (value as { toHTML?: unknown }).toHTML === 'function') return String((value as { toHTML(): unknown }).toHTML());
  // Numbers and booleans print as plain words ("4", "-1.5", "1e+21", "true").
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return shellQuote(String(value));
}

/**
 * A private handlebars instance whose compiled templates shell-quote.
 *
 * The runtime copies `Utils.escapeExpression` into each compiled template's
 * container when the template is instantiated, and `Utils` is one module
 * shared by every instance in the process. So the replacement is installed
 * only for the duration of this instance's `template()` call (synchronous,
 * nothing else runs meanwhile): our templates capture shell quoting, and
 * any other handlebars user in the process keeps HTML escaping.
 */
export function createEngine(): Hb {
  const hb = Handlebars.create();
  const instantiate = hb.template.bind(hb);
  const utils = hb.Utils as unknown as { escapeExpression: (s: unknown) => string };
  hb.template = ((spec: unknown) => {
    const original = utils.escapeExpression;
    utils.escapeExpression = shellEscape;
    try {
      return instantiate(spec as TemplateSpecification);
    } finally {
      utils.escapeExpression = original;
    }
  }) as Hb['template'];
  // `log` writes to the daemon's console; nothing in a template needs it.
  hb.unregisterHelper('log');
  return hb;
}

/** The compile options every template gets. */
export const COMPILE_OPTIONS = { strict: true, noEscape: false } as const;
