// The extension host loads this module (extensionTestsPath) and awaits run();
// its outcome becomes the exit status the workbench reports.
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // SLURM_ML_VSCODE_GREP (in run.sh's environment, which code-server passes on) runs only the matching tests.
  const grep = process.env.SLURM_ML_VSCODE_GREP;
  const mocha = new Mocha({ ui: 'bdd', timeout: 180_000, color: false, reporter: 'spec', ...(grep ? { grep } : {}) });
  mocha.addFile(path.join(__dirname, 'extension.test.js'));
  mocha.addFile(path.join(__dirname, 'editing.test.js'));
  mocha.addFile(path.join(__dirname, 'dashboard.test.js'));
  mocha.addFile(path.join(__dirname, 'runtime.test.js'));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}
