import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkHostKey,
  entryMatchesHost,
  fingerprintSha256,
  keyTypeOfBlob,
  knownHostsLookupName,
  knownKeyTypesForHost,
  parseKnownHosts,
  readKnownHostsFile,
} from '../../daemon/ssh/knownHosts';

interface Key {
  /** `type base64` as in a .pub file, without the comment. */
  line: string;
  type: string;
  blob: Buffer;
  pubPath: string;
}

let dir = '';
const keys: Record<'ed1' | 'ed2' | 'ecdsa' | 'rsa', Key> = {} as never;

function genKey(name: string, type: string, extra: string[] = []): Key {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...extra, '-N', '', '-C', `test-${name}`, '-f', path]);
  const [ktype, b64] = readFileSync(path + '.pub', 'utf8').trim().split(' ') as [string, string];
  return { line: `${ktype} ${b64}`, type: ktype, blob: Buffer.from(b64, 'base64'), pubPath: path + '.pub' };
}

/** ssh-keygen's own fingerprint, field 2 of `ssh-keygen -lf`. */
function keygenFingerprint(pubPath: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubPath], { encoding: 'utf8' }).split(' ')[1] as string;
}

/** Does ssh-keygen -F (OpenSSH's own matcher) find `name` in the file? */
function keygenFinds(file: string, name: string): boolean {
  const r = spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('found');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'knownhosts-'));
  keys.ed1 = genKey('ed1', 'ed25519');
  keys.ed2 = genKey('ed2', 'ed25519');
  keys.ecdsa = genKey('ecdsa', 'ecdsa');
  keys.rsa = genKey('rsa', 'rsa', ['-b', '2048']);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('fingerprintSha256 equals ssh-keygen -lf for every key type', () => {
  for (const k of Object.values(keys)) {
    assert.equal(fingerprintSha256(k.blob), keygenFingerprint(k.pubPath), k.type);
    assert.equal(keyTypeOfBlob(k.blob), k.type);
  }
});

test('keyTypeOfBlob rejects garbage', () => {
  assert.equal(keyTypeOfBlob(Buffer.alloc(0)), undefined);
  assert.equal(keyTypeOfBlob(Buffer.from([0, 0, 0, 200, 1, 2])), undefined);
  assert.equal(keyTypeOfBlob(Buffer.from([0, 0, 0, 0])), undefined);
});

test('lookup name uses [host]:port for non-22 ports, lower case', () => {
  assert.equal(knownHostsLookupName('Login.Example.COM', 22), 'login.example.com');
  assert.equal(knownHostsLookupName('127.0.0.1', 2222), '[127.0.0.1]:2222');
});

test('host patterns agree with ssh-keygen -F (wildcards, negation, ports, case)', () => {
  const file = join(dir, 'patterns');
  const text = [
    '# a comment',
    '',
    `   *.example.com,!bad.example.com ${keys.ed1.line} trailing comment words`,
    `[127.0.0.1]:2222 ${keys.ecdsa.line}`,
    `host?.lab,Exact.Host ${keys.rsa.line}`,
    `[*.wild]:2200,!* ${keys.ed2.line}`,
    `[n?.cluster]:* ${keys.ed2.line}`,
    'garbage line',
    `bad.type ssh-rsa ${keys.ed1.line.split(' ')[1]}`,
  ].join('\n');
  writeFileSync(file, text);
  const entries = parseKnownHosts(text);
  // Comments, blank, garbage and the type/blob mismatch are skipped.
  assert.deepEqual(entries.map((e) => e.line), [3, 4, 5, 6, 7]);
  assert.equal(entries[0]?.comment, 'trailing comment words');

  const cases: Array<[string, number]> = [
    ['foo.example.com', 22],
    ['FOO.Example.com', 22],
    ['bad.example.com', 22],
    ['example.com', 22],
    ['foo.example.com', 2222],
    ['127.0.0.1', 2222],
    ['127.0.0.1', 22],
    ['127.0.0.1', 22222],
    ['host1.lab', 22],
    ['host12.lab', 22],
    ['exact.host', 22],
    ['a.wild', 2200],
    ['n1.cluster', 2022],
    ['n1.cluster', 22],
    ['n12.cluster', 2022],
  ];
  for (const [host, port] of cases) {
    const name = knownHostsLookupName(host, port);
    const ours = entries.some((e) => entryMatchesHost(e, host, port));
    assert.equal(ours, keygenFinds(file, name), `${host}:${port}`);
  }
  // Spot checks so the oracle itself is not vacuous.
  assert.equal(keygenFinds(file, 'foo.example.com'), true);
  assert.equal(keygenFinds(file, 'bad.example.com'), false);
});

test('hashed entries from ssh-keygen -H match the right host and port only', () => {
  const file = join(dir, 'hashed');
  writeFileSync(
    file,
    [`login.example.com ${keys.ed1.line}`, `[127.0.0.1]:2222 ${keys.ecdsa.line}`, `10.1.2.3 ${keys.rsa.line}`].join('\n') + '\n',
  );
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'pipe' });
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^\|1\|/m);
  assert.doesNotMatch(text, /login\.example\.com/);
  const entries = parseKnownHosts(text);
  assert.equal(entries.length, 3);
  assert.ok(entries.every((e) => e.names.kind === 'hashed'));

  assert.deepEqual(checkHostKey(entries, 'login.example.com', 22, keys.ed1.type, keys.ed1.blob), { status: 'match' });
  assert.deepEqual(checkHostKey(entries, 'LOGIN.example.com', 22, keys.ed1.type, keys.ed1.blob), { status: 'match' });
  assert.deepEqual(checkHostKey(entries, '127.0.0.1', 2222, keys.ecdsa.type, keys.ecdsa.blob), { status: 'match' });
  assert.deepEqual(checkHostKey(entries, '10.1.2.3', 22, keys.rsa.type, keys.rsa.blob), { status: 'match' });
  // Same host, other port: not known.
  assert.equal(checkHostKey(entries, 'login.example.com', 2222, keys.ed1.type, keys.ed1.blob).status, 'unknown');
  assert.equal(checkHostKey(entries, '127.0.0.1', 22, keys.ecdsa.type, keys.ecdsa.blob).status, 'unknown');
  // Same host, another key of the same type: changed, naming the known one.
  assert.deepEqual(checkHostKey(entries, 'login.example.com', 22, keys.ed2.type, keys.ed2.blob), {
    status: 'changed',
    knownFingerprints: [keygenFingerprint(keys.ed1.pubPath)],
  });
});

test('checkHostKey: match, unknown, changed, other key types', () => {
  const entries = parseKnownHosts(
    [`[127.0.0.1]:2222 ${keys.ed1.line}`, `[127.0.0.1]:2222 ${keys.rsa.line}`, `other ${keys.ed2.line}`].join('\n'),
  );
  assert.deepEqual(checkHostKey(entries, '127.0.0.1', 2222, keys.ed1.type, keys.ed1.blob), { status: 'match' });
  assert.deepEqual(checkHostKey(entries, '127.0.0.1', 2222, keys.rsa.type, keys.rsa.blob), { status: 'match' });
  assert.deepEqual(checkHostKey(entries, '127.0.0.1', 2222, keys.ed2.type, keys.ed2.blob), {
    status: 'changed',
    knownFingerprints: [fingerprintSha256(keys.ed1.blob)],
  });
  // ECDSA never seen for this host, but other types are: unknown, and says so.
  assert.deepEqual(checkHostKey(entries, '127.0.0.1', 2222, keys.ecdsa.type, keys.ecdsa.blob), {
    status: 'unknown',
    otherKeyTypes: ['ssh-ed25519', 'ssh-rsa'],
  });
  assert.deepEqual(checkHostKey([], 'x', 22, keys.ed1.type, keys.ed1.blob), { status: 'unknown', otherKeyTypes: [] });
  assert.deepEqual(knownKeyTypesForHost(entries, '127.0.0.1', 2222), ['ssh-ed25519', 'ssh-rsa']);
  assert.deepEqual(knownKeyTypesForHost(entries, '127.0.0.1', 22), []);
});

test('@revoked always fails, even when the key is also listed as valid', () => {
  const entries = parseKnownHosts(
    [`@revoked * ${keys.ed1.line}`, `myhost ${keys.ed1.line}`, `myhost ${keys.ecdsa.line}`].join('\n'),
  );
  assert.equal(entries[0]?.marker, 'revoked');
  assert.deepEqual(checkHostKey(entries, 'myhost', 22, keys.ed1.type, keys.ed1.blob), { status: 'revoked' });
  assert.deepEqual(checkHostKey(entries, 'elsewhere', 22, keys.ed1.type, keys.ed1.blob), { status: 'revoked' });
  assert.deepEqual(checkHostKey(entries, 'myhost', 22, keys.ecdsa.type, keys.ecdsa.blob), { status: 'match' });
  // A revoked entry does not count as a known key type.
  assert.deepEqual(knownKeyTypesForHost(entries, 'other', 22), []);
});

test('@cert-authority lines are ignored; unknown markers skip the line', () => {
  const entries = parseKnownHosts(
    [`@cert-authority *.example.com ${keys.ed1.line}`, `@bogus host ${keys.ed1.line}`].join('\n'),
  );
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.marker, 'cert-authority');
  assert.deepEqual(checkHostKey(entries, 'a.example.com', 22, keys.ed1.type, keys.ed1.blob), {
    status: 'unknown',
    otherKeyTypes: [],
  });
});

test('CRLF line endings and tabs are accepted', () => {
  const entries = parseKnownHosts(`host1\t${keys.ed1.line.replace(' ', '\t')}\r\nhost2 ${keys.ed2.line}\r\n`);
  assert.equal(entries.length, 2);
  assert.equal(checkHostKey(entries, 'host1', 22, keys.ed1.type, keys.ed1.blob).status, 'match');
});

test('readKnownHostsFile: missing file is empty', async () => {
  assert.deepEqual(await readKnownHostsFile(join(dir, 'does-not-exist')), []);
  const file = join(dir, 'rk');
  writeFileSync(file, `h ${keys.ed1.line}\n`);
  assert.equal((await readKnownHostsFile(file)).length, 1);
});

test('the fingerprint ssh-keygen prints for a known_hosts line is ours', () => {
  const file = join(dir, 'fp');
  writeFileSync(file, `[127.0.0.1]:2222 ${keys.ecdsa.line}\n`);
  const out = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' });
  const entries = parseKnownHosts(readFileSync(file, 'utf8'));
  assert.equal(out.split(' ')[1], fingerprintSha256(entries[0]!.keyBlob));
});
