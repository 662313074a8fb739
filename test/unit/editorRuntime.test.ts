// The daemon and the CLI on the editor's own runtime: how a daemon is launched
// (the editor's executable with ELECTRON_RUN_AS_NODE=1 unless slurmMl.nodePath
// overrides it), where the `slurm-ml` launcher goes, and that the launcher sh
// actually runs the CLI with its arguments intact, from paths with spaces
// and quotes in them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LAUNCHER_MARK, cliLauncher, daemonLaunch, launcherName, launcherTarget } from '../../extension/model/editorRuntime';

test('by default the daemon runs on the editor runtime, as Node (ELECTRON_RUN_AS_NODE=1)', () => {
  const l = daemonLaunch('', '/opt/vscode/code', { PATH: '/usr/bin', X: '1' });
  assert.deepEqual(l, { nodePath: '/opt/vscode/code', env: { PATH: '/usr/bin', X: '1', ELECTRON_RUN_AS_NODE: '1' } });
  assert.equal(daemonLaunch(undefined, '/e', {}).nodePath, '/e');
  assert.equal(daemonLaunch('   ', '/e', {}).nodePath, '/e', 'a blank setting is no setting');
});

test('slurmMl.nodePath overrides the runtime and leaves the environment alone', () => {
  const env = { PATH: '/usr/bin' };
  const l = daemonLaunch(' /usr/local/bin/node ', '/opt/vscode/code', env);
  assert.equal(l.nodePath, '/usr/local/bin/node');
  assert.deepEqual(l.env, env);
});

test('the launcher goes into the first per-user bin directory on PATH, else ~/.local/bin with a hint', () => {
  assert.deepEqual(launcherTarget('linux', { PATH: '/usr/bin:/home/u/bin:/home/u/.local/bin/' }, '/home/u'), { dir: '/home/u/.local/bin', onPath: true });
  assert.deepEqual(launcherTarget('darwin', { PATH: '/usr/bin:/Users/u/bin' }, '/Users/u'), { dir: '/Users/u/bin', onPath: true });
  assert.deepEqual(launcherTarget('linux', { PATH: '/usr/bin:/bin' }, '/home/u'), { dir: '/home/u/.local/bin', onPath: false });
  assert.deepEqual(launcherTarget('linux', {}, '/home/u'), { dir: '/home/u/.local/bin', onPath: false });
  // Windows: Path, case-insensitive, and the WindowsApps directory every user has on PATH.
  const win = { Path: 'C:\\Windows\\system32;c:\\users\\u\\appdata\\local\\microsoft\\windowsapps\\', LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' };
  assert.deepEqual(launcherTarget('win32', win, 'C:\\Users\\u'), { dir: 'C:\\Users\\u\\AppData\\Local\\Microsoft\\WindowsApps', onPath: true });
  assert.deepEqual(launcherTarget('win32', { Path: 'C:\\Windows' }, 'C:\\Users\\u'), { dir: 'C:\\Users\\u\\.local\\bin', onPath: false });
  assert.equal(launcherName('win32'), 'slurm-ml.cmd');
  assert.equal(launcherName('linux'), 'slurm-ml');
});

test('the sh launcher runs the CLI on the given runtime with ELECTRON_RUN_AS_NODE=1 and every argument unchanged', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "launch it's-"));
  try {
    const cli = path.join(dir, 'cli "x".js');
    fs.writeFileSync(cli, 'process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), electron: process.env.ELECTRON_RUN_AS_NODE }))');
    const launcher = path.join(dir, 'slurm-ml');
    const text = cliLauncher('linux', process.execPath, cli);
    assert.ok(text.includes(LAUNCHER_MARK));
    fs.writeFileSync(launcher, text, { mode: 0o755 });
    const args = ['logs', 'a b', "it's", '$HOME', '"q"', '*', ''];
    const r = spawnSync(launcher, args, { encoding: 'utf8', env: { PATH: '/nonexistent' } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { argv: args, electron: '1' });

    // The runtime is gone (the editor was updated): a message that says what to do.
    fs.writeFileSync(launcher, cliLauncher('linux', path.join(dir, 'gone', 'node'), cli), { mode: 0o755 });
    const g = spawnSync(launcher, ['--version'], { encoding: 'utf8' });
    assert.equal(g.status, 127);
    assert.match(g.stderr, /updated or removed .*Install 'slurm-ml' Command in PATH/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the Windows launcher is a .cmd that sets ELECTRON_RUN_AS_NODE and passes %*', () => {
  const text = cliLauncher('win32', 'C:\\Program Files\\Microsoft VS Code\\Code.exe', 'C:\\Users\\u\\.vscode\\extensions\\slurm-ml\\dist\\cli.js');
  const lines = text.split('\r\n');
  assert.equal(lines[0], '@echo off');
  assert.ok(lines.includes('set ELECTRON_RUN_AS_NODE=1'));
  assert.ok(lines.includes('"C:\\Program Files\\Microsoft VS Code\\Code.exe" "C:\\Users\\u\\.vscode\\extensions\\slurm-ml\\dist\\cli.js" %*'));
  assert.ok(!/[^\r]\n/.test(text), 'CRLF line endings only');
  assert.ok(cliLauncher('win32', 'C:\\100%\\Code.exe', 'C:\\cli.js').includes('"C:\\100%%\\Code.exe"'), 'a percent sign is escaped for cmd.exe');
});
