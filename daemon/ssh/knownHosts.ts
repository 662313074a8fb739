// OpenSSH known_hosts parsing and host key checking, so the daemon trusts
// exactly the keys the user's own `ssh` would trust (format: sshd(8),
// "SSH_KNOWN_HOSTS FILE FORMAT").
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export type KnownHostMarker = 'revoked' | 'cert-authority';

export type KnownHostNames =
  /** Comma-separated patterns as written, e.g. `*.lab,!bad.lab,[10.0.0.1]:2222`. */
  | { kind: 'patterns'; patterns: string[] }
  /** `|1|salt|hmac`: HMAC-SHA1 keyed by salt over the lookup name. */
  | { kind: 'hashed'; salt: Buffer; hash: Buffer };

export interface KnownHostEntry {
  /** 1-based line number in the file, for messages. */
  line: number;
  marker?: KnownHostMarker;
  names: KnownHostNames;
  /** Read from the key blob (the text field is checked against it). */
  keyType: string;
  keyBlob: Buffer;
  comment?: string;
}

export type HostKeyCheck =
  | { status: 'match' }
  /** otherKeyTypes: keys of other types are known for this host (OpenSSH warns about this too). */
  | { status: 'unknown'; otherKeyTypes: string[] }
  | { status: 'changed'; knownFingerprints: string[] }
  | { status: 'revoked' };

/** `SHA256:<base64 without padding>`, the way `ssh-keygen -lf` prints it. */
export function fingerprintSha256(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type is the first SSH string (uint32 length + bytes) of a public key blob. */
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.toString('latin1', 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/** The name OpenSSH looks up: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsLookupName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** Lines that are not valid entries are skipped, as OpenSSH does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const entry = parseLine((lines[i] as string).replace(/\r$/, ''), i + 1);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** A missing file is an empty list (every host unknown); other read errors throw. */
export async function readKnownHostsFile(path: string): Promise<KnownHostEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseKnownHosts(text);
}

function parseLine(raw: string, line: number): KnownHostEntry | undefined {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const fields = text.split(/[ \t]+/);
  let marker: KnownHostMarker | undefined;
  if ((fields[0] as string).startsWith('@')) {
    const m = fields.shift();
    if (m === '@revoked') marker = 'revoked';
    else if (m === '@cert-authority') marker = 'cert-authority';
    else return undefined;
  }
  const [hostField, typeField, b64, ...rest] = fields;
  if (!hostField || !typeField || !b64) return undefined;
  const names = parseNames(hostField);
  if (!names) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const keyBlob = Buffer.from(b64, 'base64');
  const keyType = keyTypeOfBlob(keyBlob);
  // A type field that disagrees with the blob is a corrupt line to OpenSSH.
  if (!keyType || keyType !== typeField) return undefined;
  const entry: KnownHostEntry = { line, names, keyType, keyBlob };
  if (marker) entry.marker = marker;
  if (rest.length > 0) entry.comment = rest.join(' ');
  return entry;
}

function parseNames(field: string): KnownHostNames | undefined {
  if (field.startsWith('|')) {
    // Only the `|1|` (HMAC-SHA1) scheme exists.
    const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(field);
    if (!m) return undefined;
    const salt = Buffer.from(m[1] as string, 'base64');
    const hash = Buffer.from(m[2] as string, 'base64');
    if (salt.length !== 20 || hash.length !== 20) return undefined;
    return { kind: 'hashed', salt, hash };
  }
  const patterns = field.split(',').filter((p) => p !== '');
  return patterns.length > 0 ? { kind: 'patterns', patterns } : undefined;
}

/** Whether an entry's host names cover this host and port (markers not considered). */
export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsLookupName(host, port);
  const names = entry.names;
  if (names.kind === 'hashed') {
    const h = createHmac('sha1', names.salt).update(name).digest();
    return timingSafeEqual(h, names.hash);
  }
  // OpenSSH semantics: any matching negated pattern vetoes the entry, even if
  // a positive pattern also matches.
  let positive = false;
  for (const p of names.patterns) {
    if (p.startsWith('!')) {
      if (globMatch(name, p.slice(1).toLowerCase())) return false;
    } else if (globMatch(name, p.toLowerCase())) {
      positive = true;
    }
  }
  return positive;
}

/** `*` any run of characters, `?` exactly one; everything else literal (ssh's host patterns, in known_hosts and ssh_config). */
export function globMatch(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    const pc = pattern[pi];
    if (pc === '*') {
      starP = pi++;
      starS = si;
    } else if (pc !== undefined && (pc === '?' || pc === s[si])) {
      pi++;
      si++;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

/** Key types known (not revoked) for this host; used to prefer them during key exchange. */
export function knownKeyTypesForHost(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const types = new Set<string>();
  for (const e of entries) {
    if (e.marker === undefined && entryMatchesHost(e, host, port)) types.add(e.keyType);
  }
  return [...types];
}

export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  keyType: string,
  keyBlob: Buffer,
): HostKeyCheck {
  // A revoked key is refused whichever host names its @revoked line lists
  // (OpenSSH scopes it to the line's hosts): a compromised key is compromised
  // everywhere, and this can only refuse more, never accept more.
  if (entries.some((e) => e.marker === 'revoked' && e.keyBlob.equals(keyBlob))) {
    return { status: 'revoked' };
  }
  const forHost = entries.filter((e) => e.marker === undefined && entryMatchesHost(e, host, port));
  if (forHost.some((e) => e.keyBlob.equals(keyBlob))) return { status: 'match' };
  const sameType = forHost.filter((e) => e.keyType === keyType);
  if (sameType.length > 0) {
    return { status: 'changed', knownFingerprints: unique(sameType.map((e) => fingerprintSha256(e.keyBlob))) };
  }
  return { status: 'unknown', otherKeyTypes: unique(forHost.map((e) => e.keyType)) };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * The known_hosts line for a key: `host` or `[host]:port` (port not 22), or
 * its `|1|salt|hmac` hash, then the key type and base64 blob.
 */
export function knownHostsLine(host: string, port: number, keyBlob: Buffer, opts: { hash?: boolean } = {}): string {
  const name = knownHostsLookupName(host, port);
  const keyType = keyTypeOfBlob(keyBlob);
  if (!keyType) throw new Error('not an SSH public key blob');
  let field = name;
  if (opts.hash) {
    const salt = randomBytes(20);
    field = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  return `${field} ${keyType} ${keyBlob.toString('base64')}`;
}

/**
 * Adds a host key the user accepted, as `ssh` does: creates the directory
 * (0700) and the file (0600) when missing, and appends one line.
 */
export async function appendKnownHost(path: string, host: string, port: number, keyBlob: Buffer, opts: { hash?: boolean } = {}): Promise<void> {
  const line = knownHostsLine(host, port, keyBlob, opts);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Keep the previous last line intact when the file does not end in a newline.
  let prefix = '';
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await appendFile(path, `${prefix}${line}\n`, { mode: 0o600 });
}
