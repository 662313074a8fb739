// The daemon asks, through ssh/prompt, what an SSH login needs from the
// person: trusting a host key (a modal with the fingerprint), passwords,
// two-factor codes and key passphrases (password input boxes). Nothing typed
// here is stored or logged.
import * as vscode from 'vscode';
import type { SshPromptParams, SshPromptResult } from '../daemon/client';

export async function answerSshPrompt(req: SshPromptParams, log: vscode.LogOutputChannel): Promise<SshPromptResult> {
  log.info(`ssh/prompt from cluster ${req.cluster}: ${req.kind}`);
  if (req.kind === 'host-key') {
    const k = req.hostKey;
    const detail = k
      ? `${k.host}:${k.port} offered a ${k.keyType} key with fingerprint\n\n${k.fingerprint}\n\nCompare it with the one your cluster's administrators publish. Trusting adds it to your known_hosts file.`
      : (req.instructions ?? '');
    const choice = await vscode.window.showWarningMessage(`${req.title}`, { modal: true, detail }, 'Trust');
    const outcome = choice === 'Trust' ? 'accepted' : 'cancelled';
    log.info(`host key for ${req.cluster}: ${outcome}`);
    return { outcome };
  }
  const answers: string[] = [];
  const prompts = req.prompts.length ? req.prompts : [{ prompt: req.kind === 'passphrase' ? 'Key passphrase' : 'Password', echo: false }];
  for (const [i, p] of prompts.entries()) {
    const value = await vscode.window.showInputBox({
      title: prompts.length > 1 ? `${req.title} (${i + 1}/${prompts.length})` : req.title,
      prompt: [req.instructions, p.prompt].filter(Boolean).join(' — '),
      password: !p.echo,
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      log.info(`${req.kind} prompt for ${req.cluster}: cancelled`);
      return { outcome: 'cancelled' };
    }
    answers.push(value);
  }
  return { outcome: 'answered', answers };
}
