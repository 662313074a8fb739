// ssh config resolution on config text: what `ssh ALIAS` would use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeHostOptions,
  matchPatternList,
  parseProxyJump,
  parseSshConfig,
  resolveChain,
  resolveHost,
  SshConfigError,
  type ResolveContext,
} from '../../daemon/ssh/sshConfig';

const ctx: ResolveContext = {
  home: '/home/alice',
  localUser: 'alice',
  localHost: 'laptop.example.org',
  uid: 1000,
  env: { SSH_AUTH_SOCK: '/run/agent.sock', KEYS: '/keys' },
};

function cfg(text: string, files: Record<string, string> = {}) {
  return parseSshConfig(text, {
    path: '/home/alice/.ssh/config',
    ctx,
    read: (p) => files[p],
    expandGlob: (p) => (p.includes('*') ? Object.keys(files).filter((f) => f.startsWith(p.slice(0, p.indexOf('*')))).sort() : [p]),
  });
}

test('Host patterns: wildcards, ?, negation, first value wins, case-insensitive keywords', () => {
  const c = cfg(`
Host *.hpc.example !login9.hpc.example
  User hpcuser
  Port 2200
Host login?.hpc.example
  User other
  IdentityFile ~/.ssh/hpc
Host *
  User fallback
  hostname %h.internal
  IDENTITYFILE ~/.ssh/general
`);
  const a = resolveHost(c, 'login1.hpc.example', ctx);
  assert.equal(a.user, 'hpcuser'); // first obtained wins over the later Host block
  assert.equal(a.port, 2200);
  assert.equal(a.hostName, 'login1.hpc.example.internal'); // %h
  assert.deepEqual(a.identityFiles, ['/home/alice/.ssh/hpc', '/home/alice/.ssh/general']); // accumulate, ~ expanded
  const negated = resolveHost(c, 'login9.hpc.example', ctx);
  assert.equal(negated.user, 'other'); // the negated pattern vetoes the first block
  assert.equal(negated.port, 22);
  // `?` is exactly one character.
  assert.equal(resolveHost(c, 'login10.hpc.example', ctx).user, 'hpcuser');
  assert.equal(resolveHost(c, 'login.hpc.example', ctx).user, 'hpcuser');
  assert.equal(resolveHost(c, 'elsewhere', ctx).user, 'fallback');
  assert.equal(resolveHost(parseSshConfig('', { ctx }), 'x', ctx).user, 'alice'); // local user by default
});

test('pattern lists', () => {
  assert.equal(matchPatternList('Foo.Example', ['*.example']), true);
  assert.equal(matchPatternList('a.example', ['*.example', '!a.*']), false);
  assert.equal(matchPatternList('b', ['!a']), false); // only negative: no positive match
  assert.equal(matchPatternList('ab', ['a?']), true);
  assert.equal(matchPatternList('a', ['a?']), false);
});

test('explicit settings win over the config (like ssh -l/-p on the command line)', () => {
  const c = cfg('Host hpc\n  HostName login.hpc.example\n  User bob\n  Port 2200\n');
  const r = resolveHost(c, 'hpc', ctx, { user: 'carol', port: 22, hostName: '10.0.0.5' });
  assert.deepEqual([r.hostName, r.user, r.port], ['10.0.0.5', 'carol', 22]);
});

test('agent, known hosts, keepalive, tokens and ${VAR} in paths', () => {
  const c = cfg(`
Host a
  IdentityAgent none
  UserKnownHostsFile ~/.ssh/kh_%n /etc/other
  ServerAliveInterval 30
  ServerAliveCountMax 5
  ConnectTimeout 7
  IdentitiesOnly yes
  HashKnownHosts yes
  IdentityFile \${KEYS}/%r@%h_%p
  User u
Host b
  IdentityAgent ~/agent-%u.sock
Host c
  IdentityAgent SSH_AUTH_SOCK
`);
  const a = resolveHost(c, 'a', ctx);
  assert.deepEqual(a.agents, []);
  assert.deepEqual(a.knownHostsFiles, ['/home/alice/.ssh/kh_a', '/etc/other']);
  assert.deepEqual([a.serverAliveIntervalS, a.serverAliveCountMax, a.connectTimeoutS], [30, 5, 7]);
  assert.equal(a.identitiesOnly, true);
  assert.equal(a.hashKnownHosts, true);
  assert.deepEqual(a.identityFiles, ['/keys/u@a_22']);
  assert.deepEqual(resolveHost(c, 'b', ctx).agents, ['/home/alice/agent-alice.sock']);
  assert.deepEqual(resolveHost(c, 'c', ctx).agents, ['/run/agent.sock']);
  assert.deepEqual(resolveHost(c, 'd', ctx).agents, ['/run/agent.sock']); // SSH_AUTH_SOCK by default
  assert.equal(resolveHost(c, 'd', ctx).knownHostsFiles, null);
  assert.throws(() => resolveHost(cfg('Host x\n  IdentityFile ${NOPE}/k\n'), 'x', ctx), /NOPE is not set/);
  assert.throws(() => resolveHost(cfg('Host x\n  Port ssh\n'), 'x', ctx), SshConfigError);
});

test('ProxyJump: hop syntax', () => {
  assert.deepEqual(parseProxyJump('jump'), [{ user: undefined, host: 'jump', port: undefined }]);
  assert.deepEqual(parseProxyJump('me@j1:2201,ssh://you@j2:22,[::1]:2222,j3'), [
    { user: 'me', host: 'j1', port: 2201 },
    { user: 'you', host: 'j2', port: 22 },
    { user: undefined, host: '::1', port: 2222 },
    { user: undefined, host: 'j3', port: undefined },
  ]);
  assert.throws(() => parseProxyJump('a,,b'), /empty hop/);
  assert.throws(() => parseProxyJump('a:notaport'), /not a port/);
});

test('ProxyJump: each hop resolved through the config; the last hop ignores its own ProxyJump, the first keeps it', () => {
  const c = cfg(`
Host cluster
  HostName 10.1.0.2
  ProxyJump bastion,gw:2022
  User hpcuser
Host bastion
  HostName bastion.example
  User jumper
  IdentityFile ~/.ssh/bastion
  ProxyJump outer
Host gw
  HostName gw.internal
  User gwuser
  ProxyJump ignored
Host outer
  HostName outer.example
  Port 443
Host ignored
  HostName never
`);
  const chain = resolveChain(c, 'cluster', ctx);
  assert.equal(chain.target.hostName, '10.1.0.2');
  assert.deepEqual(
    chain.jumps.map((j) => `${j.user}@${j.hostName}:${j.port}`),
    ['alice@outer.example:443', 'jumper@bastion.example:22', 'gwuser@gw.internal:2022'],
  );
  assert.deepEqual(chain.jumps[1]!.identityFiles, ['/home/alice/.ssh/bastion']);
  // user@ in the hop wins over the hop's User.
  const c2 = cfg('Host t\n  ProxyJump root@bastion\nHost bastion\n  User jumper\n');
  assert.equal(resolveChain(c2, 't', ctx).jumps[0]!.user, 'root');
  assert.equal(resolveChain(cfg('Host t\n  ProxyJump none\nHost *\n  ProxyJump x\n'), 't', ctx).jumps.length, 0);
  assert.throws(() => resolveChain(cfg('Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n'), 'a', ctx), /loop/);
});

test('ProxyCommand is refused with a clear message, unless ProxyJump came first', () => {
  assert.throws(() => resolveHost(cfg('Host a\n  ProxyCommand ssh -W %h:%p bastion\n'), 'a', ctx), /ProxyCommand.*use ProxyJump/);
  assert.equal(resolveHost(cfg('Host a\n  ProxyJump j\nHost *\n  ProxyCommand nc %h %p\n'), 'a', ctx).proxyJump.length, 1);
});

test('Match: host (after HostName), originalhost, user, negation, all; exec never runs', () => {
  const c = cfg(`
Host short
  HostName long.example
Match host long.example !user root
  Port 2201
Match originalhost short
  User matched
Match exec "touch /tmp/should-not-exist"
  IdentityFile ~/.ssh/exec
Match all
  ServerAliveInterval 9
`);
  const r = resolveHost(c, 'short', ctx);
  assert.equal(r.port, 2201);
  assert.equal(r.user, 'matched');
  assert.deepEqual(r.identityFiles, []);
  assert.equal(r.serverAliveIntervalS, 9);
  assert.ok(c.warnings.some((w) => /Match exec/.test(w)));
  assert.equal(resolveHost(c, 'short', ctx, { user: 'root' }).port, 22);
});

test('Include: relative to ~/.ssh, globbed in order, scoped to the enclosing block', () => {
  const files = {
    '/home/alice/.ssh/conf.d/10-hpc': 'Host hpc\n  HostName login.hpc.example\n  User fromInclude\n',
    '/home/alice/.ssh/conf.d/20-more': 'Host hpc\n  User second\nPort 2300\n',
    '/home/alice/.ssh/only-for-x': 'User xuser\n',
  };
  const c = cfg('Include conf.d/*\nHost x\n  Include only-for-x\nHost *\n  User last\n', files);
  const r = resolveHost(c, 'hpc', ctx);
  assert.equal(r.hostName, 'login.hpc.example');
  assert.equal(r.user, 'fromInclude');
  // The Port line of 20-more sits under its `Host hpc` block.
  assert.equal(r.port, 2300);
  assert.equal(resolveHost(c, 'x', ctx).user, 'xuser');
  assert.equal(resolveHost(c, 'y', ctx).user, 'last');
  assert.equal(computeHostOptions(c, 'y', ctx).get('port'), undefined);
});

test('accepted host keys: known_hosts lines as ssh writes them (plain, [host]:port, hashed) are found again', async () => {
  const { checkHostKey, knownHostsLine, parseKnownHosts, appendKnownHost, readKnownHostsFile } = await import('../../daemon/ssh/knownHosts');
  const { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  // An ed25519 public key blob: string "ssh-ed25519" + 32 bytes.
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([Buffer.from([0, 0, 0, type.length]), type, Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
  assert.match(knownHostsLine('login.example', 22, blob), /^login\.example ssh-ed25519 AAAA/);
  assert.match(knownHostsLine('10.0.0.1', 2222, blob), /^\[10\.0\.0\.1\]:2222 ssh-ed25519 /);
  const hashed = knownHostsLine('10.0.0.1', 2222, blob, { hash: true });
  assert.match(hashed, /^\|1\|[A-Za-z0-9+/=]{28}\|[A-Za-z0-9+/=]{28} ssh-ed25519 /);
  const entries = parseKnownHosts(hashed + '\n');
  assert.deepEqual(checkHostKey(entries, '10.0.0.1', 2222, 'ssh-ed25519', blob), { status: 'match' });
  assert.equal(checkHostKey(entries, '10.0.0.1', 22, 'ssh-ed25519', blob).status, 'unknown');

  const dir = mkdtempSync(join(tmpdir(), 'kh-append-'));
  try {
    const file = join(dir, 'sub', 'known_hosts');
    await appendKnownHost(file, 'a.example', 22, blob);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);
    // A file without a final newline keeps its last line whole.
    const other = join(dir, 'other');
    writeFileSync(other, '# no newline at the end');
    await appendKnownHost(other, 'b.example', 2200, blob);
    assert.equal(readFileSync(other, 'utf8').split('\n')[1], knownHostsLine('b.example', 2200, blob));
    assert.equal(checkHostKey(await readKnownHostsFile(other), 'b.example', 2200, 'ssh-ed25519', blob).status, 'match');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
