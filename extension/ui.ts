// Small UI helpers shared by the commands: quick picks and an input box that
// shows validation inline while typing.
import * as vscode from 'vscode';

export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

export interface InputOptions {
  title: string;
  prompt?: string;
  value?: string;
  placeholder?: string;
  password?: boolean;
  step?: number;
  totalSteps?: number;
  validate?: (text: string) => string | undefined;
}

/** An InputBox whose validationMessage follows the text; resolves on Enter with a valid value, throws Cancelled on Escape. */
export function input(o: InputOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const box = vscode.window.createInputBox();
    box.title = o.title;
    box.prompt = o.prompt;
    box.value = o.value ?? '';
    box.placeholder = o.placeholder;
    box.password = o.password ?? false;
    box.step = o.step;
    box.totalSteps = o.totalSteps;
    box.ignoreFocusOut = true;
    let done = false;
    const check = (t: string) => (box.validationMessage = o.validate?.(t));
    check(box.value);
    const subs = [
      box.onDidChangeValue(check),
      box.onDidAccept(() => {
        const problem = o.validate?.(box.value);
        if (problem) {
          box.validationMessage = problem;
          return;
        }
        done = true;
        resolve(box.value);
        box.hide();
      }),
      box.onDidHide(() => {
        for (const s of subs) s.dispose();
        box.dispose();
        if (!done) reject(new Cancelled());
      }),
    ];
    box.show();
  });
}

export async function pick<T extends vscode.QuickPickItem>(items: readonly T[] | Promise<readonly T[]>, options: vscode.QuickPickOptions & { title: string }): Promise<T> {
  const chosen = await vscode.window.showQuickPick(items, { ignoreFocusOut: true, matchOnDescription: true, ...options });
  if (!chosen) throw new Cancelled();
  return chosen;
}
