// The cluster's SLURM version as the daemon reads it when it connects
// (`sinfo --version`), and what the compatibility table says of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, fixtureEntry, manifest } from '../fixtures/slurm/fixtures';
import { SLURM_NEWEST_CHECKED, SLURM_OLDEST_CHECKED, parseSlurmVersion, slurmSupport, slurmVersionCommand, versionAtLeast } from '../../daemon/slurm/version';

test('the version command is the one the fixture was recorded with', () => {
  assert.deepEqual(slurmVersionCommand(), ['sinfo', '--version']);
  assert.deepEqual(fixtureEntry('sinfo-version.txt').argv, slurmVersionCommand());
});

test('recorded: the test cluster answers "slurm-wlm 22.05.8" (Debian packaging)', () => {
  const v = parseSlurmVersion(fixture('sinfo-version.txt'));
  assert.ok(v.ok);
  assert.deepEqual(v.value, { distribution: 'slurm-wlm', text: '22.05.8', major: 22, minor: 5, patch: 8 });
  // sinfo, sbatch and squeue print the same line (print_slurm_version in src/common/proc_args.c).
  assert.deepEqual(parseSlurmVersion(fixture('sbatch-version.txt')), v);
  assert.equal(`${v.value.distribution} ${v.value.text}`, manifest.slurmVersion);
});

test('other builds: upstream, distribution suffixes, release candidates', () => {
  // PACKAGE_NAME SLURM_VERSION_STRING: upstream builds print `slurm`, Debian `slurm-wlm`,
  // RPMs built from the spec file can carry the release (`-1.el8`), pre-releases `-0rc1`.
  const cases: Array<[string, [string, number, number, number, string]]> = [
    ['slurm 23.11.4\n', ['slurm', 23, 11, 4, '23.11.4']],
    ['slurm-wlm 20.11.9\n', ['slurm-wlm', 20, 11, 9, '20.11.9']],
    ['slurm 20.11.9-1.el8\n', ['slurm', 20, 11, 9, '20.11.9-1.el8']],
    ['slurm 24.11.0-0rc1\n', ['slurm', 24, 11, 0, '24.11.0-0rc1']],
    ['slurm 25.05.3\r\n', ['slurm', 25, 5, 3, '25.05.3']],
    ['slurm 19.05\n', ['slurm', 19, 5, 0, '19.05']],
    // A login script that prints something first does not hide the version line.
    ['Welcome to the cluster\nslurm 24.05.8\n', ['slurm', 24, 5, 8, '24.05.8']],
  ];
  for (const [out, [distribution, major, minor, patch, text]] of cases) {
    const v = parseSlurmVersion(out);
    assert.ok(v.ok, out);
    assert.deepEqual(v.value, { distribution, major, minor, patch, text }, out);
  }
});

test('not a version: command missing, errors, other programs', () => {
  for (const out of ['', '\n', 'bash: line 1: sinfo: command not found\n', 'sinfo: error: resolve_ctls_from_dns_srv: res_nsearch error\n', 'slurm\n', 'slurm version 22\n', 'Python 3.11.2\n']) {
    assert.equal(parseSlurmVersion(out).ok, false, JSON.stringify(out));
  }
});

test('ordering: major, then minor, then patch', () => {
  const v = { major: 22, minor: 5, patch: 8 };
  assert.ok(versionAtLeast(v, 22, 5, 8));
  assert.ok(versionAtLeast(v, 22, 5));
  assert.ok(versionAtLeast(v, 21, 8, 99));
  assert.ok(versionAtLeast(v, 20, 11));
  assert.ok(!versionAtLeast(v, 22, 5, 9));
  assert.ok(!versionAtLeast(v, 23, 2));
  assert.ok(!versionAtLeast({ major: 20, minor: 2, patch: 7 }, 20, 11));
});

test('support: the releases the compatibility table covers, and outside them', () => {
  assert.deepEqual([SLURM_OLDEST_CHECKED.major, SLURM_OLDEST_CHECKED.minor], [20, 11]);
  assert.deepEqual([SLURM_NEWEST_CHECKED.major, SLURM_NEWEST_CHECKED.minor], [25, 11]);
  for (const [major, minor] of [[20, 11], [21, 8], [22, 5], [23, 2], [23, 11], [24, 5], [24, 11], [25, 5], [25, 11]] as const) {
    assert.deepEqual(slurmSupport({ major, minor, patch: 0 }), { supported: true, note: '' }, `${major}.${minor}`);
  }
  const old = slurmSupport({ major: 20, minor: 2, patch: 7 });
  assert.equal(old.supported, false);
  assert.match(old.note, /20\.02 is older than 20\.11/);
  const newer = slurmSupport({ major: 26, minor: 5, patch: 0 });
  assert.equal(newer.supported, true);
  assert.match(newer.note, /26\.05 is newer than 25\.11/);
});
