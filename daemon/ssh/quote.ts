// Quoting for commands sent over SSH. An SSH exec request carries one string
// that the remote user's login shell parses, so every argument must be quoted
// for a POSIX shell (sh, dash, bash, ksh, zsh all agree on single quotes).
// csh/tcsh and fish treat some characters inside single quotes differently
// (`!`, newlines, backslashes); such login shells are not supported here.

// Characters that no POSIX shell gives a meaning to anywhere in a word. Tokens
// made only of these are left bare so logged commands stay readable.
// Deliberately absent: `~` and `#` (special at the start of a word), `=`
// handled below, globs `*?[]`, braces (bash/zsh brace expansion), `!` and `^`.
const SAFE_TOKEN = /^[A-Za-z0-9_\-.,/:@%+=]+$/;
// `NAME=value` as the first word is a variable assignment, not a command.
const LOOKS_LIKE_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Quotes one argument so a POSIX shell reads it back as exactly this string.
 * Throws on NUL, which no argv can carry (the shell would silently truncate).
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) {
    throw new TypeError('shell arguments cannot contain NUL characters');
  }
  if (arg === '') return "''";
  if (SAFE_TOKEN.test(arg) && !LOOKS_LIKE_ASSIGNMENT.test(arg)) return arg;
  // Inside single quotes nothing is special except `'` itself, which cannot be
  // escaped there: close the quote, add an escaped quote, reopen.
  return "'" + arg.replace(/'/g, "'\\''") + "'";
}

/** Joins argv into one shell command line, every element quoted. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('shellCommand needs at least one argument');
  return argv.map(shellQuote).join(' ');
}

/**
 * `cd <dir> && <argv>`. A leading `~` or `~/` in dir is left unquoted so the
 * remote shell expands it to the remote home (quoted, it would be literal).
 */
export function shellCommandInDir(dir: string, argv: readonly string[]): string {
  return `cd ${quoteDir(dir)} && ${shellCommand(argv)}`;
}

function quoteDir(dir: string): string {
  if (dir === '~') return '~';
  if (dir.startsWith('~/')) {
    const rest = dir.slice(2);
    return rest === '' ? '~/' : '~/' + shellQuote(rest);
  }
  // `cd -` means "previous directory", and other leading dashes would be read
  // as options; `./` keeps such names literal.
  if (dir.startsWith('-')) return shellQuote('./' + dir);
  return shellQuote(dir);
}
