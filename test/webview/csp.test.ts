// The dashboard's Content-Security-Policy (webview/html.ts, the page the
// extension serves) against what an injection would try, in headless Chromium:
// markup slipped into the page (as if a job name were ever rendered as HTML)
// with inline scripts, a wrong nonce, event handlers, javascript: URLs, data:
// and foreign scripts, eval, inline styles. Only the script carrying the
// page's nonce runs; every other attempt is blocked and reported as a CSP
// violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { contentSecurityPolicy, dashboardHtml } from '../../webview/html';
import { launchChromium } from './harness';

let browser: Browser;
let server: http.Server;
let origin = '';
const nonce = crypto.randomBytes(16).toString('base64');

const hostile = `
<script>window.__pwned.push('inline script')</script>
<script nonce="${crypto.randomBytes(16).toString('base64')}">window.__pwned.push('wrong nonce')</script>
<script src="data:text/javascript,window.__pwned.push('data: script')"></script>
<script src="https://evil.example/x.js"></script>
<img src="/nothing.png" onerror="window.__pwned.push('onerror handler')">
<svg onload="window.__pwned.push('svg onload')"></svg>
<a id="js-link" href="javascript:window.__pwned.push('javascript: url')">x</a>
<iframe srcdoc="<script>parent.__pwned.push('iframe srcdoc')</script>"></iframe>
<object data="data:text/html,<script>parent.__pwned.push('object')</script>"></object>
<style>body { --pwned-style: 1; }</style>
<div id="styled" style="color: rgb(1, 2, 3)">x</div>
<form action="https://evil.example/"><button id="go">go</button></form>
`;

before(async () => {
  browser = await launchChromium();
  server = http.createServer((req, res) => {
    if (req.url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      // The page's own script (it carries the nonce): it runs, but may not eval.
      res.end(`window.__ok = true;
try { eval("window.__pwned.push('eval')"); } catch (e) { window.__evalBlocked = String(e); }
try { new Function("window.__pwned.push('new Function')")(); } catch (e) { window.__fnBlocked = String(e); }
try { setTimeout("window.__pwned.push('setTimeout string')", 0); } catch (e) {}`);
      return;
    }
    if (req.url === '/app.css') {
      res.writeHead(200, { 'content-type': 'text/css' });
      res.end('body { margin: 0 }');
      return;
    }
    if (req.url === '/') {
      const page = dashboardHtml({ cspSource: origin, nonce, scriptUri: `${origin}/app.js`, styleUri: `${origin}/app.css` });
      // The recorder and the violation log come first (a test's own setup, under the same CSP via the nonce).
      const setup = `<script nonce="${nonce}">window.__pwned = []; window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));</script>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page.replace('<title>', `${setup}<title>`).replace('</body>', `${hostile}</body>`));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

test('the CSP has no unsafe-inline, no unsafe-eval, and a script source only by nonce', () => {
  const csp = contentSecurityPolicy({ cspSource: 'vscode-webview-resource:', nonce });
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, new RegExp(`script-src 'nonce-${nonce.replace(/[+/]/g, '\\$&')}'(;|$)`));
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|unsafe-hashes|\*|https?:/);
});

test('in Chromium only the nonce-carrying script runs; injected scripts, handlers, eval and inline styles are blocked', { timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as unknown as { __ok?: boolean }).__ok === true, undefined, { timeout: 10_000 });
    await page.click('#js-link').catch(() => undefined);
    await page.waitForTimeout(500);
    const r = await page.evaluate(() => {
      const w = window as unknown as { __pwned: string[]; __violations: string[]; __evalBlocked?: string; __fnBlocked?: string };
      return {
        pwned: w.__pwned,
        violations: w.__violations,
        evalBlocked: w.__evalBlocked ?? null,
        fnBlocked: w.__fnBlocked ?? null,
        styleVar: getComputedStyle(document.body).getPropertyValue('--pwned-style'),
        inlineStyle: getComputedStyle(document.getElementById('styled')!).color,
      };
    });
    assert.deepEqual(r.pwned, [], `code that ran without the nonce: ${r.pwned.join(', ')}`);
    assert.match(String(r.evalBlocked), /EvalError|Content Security Policy/);
    assert.match(String(r.fnBlocked), /EvalError|Content Security Policy/);
    assert.equal(r.styleVar.trim(), '', 'an inline <style> without the nonce applied');
    assert.notEqual(r.inlineStyle, 'rgb(1, 2, 3)', 'an inline style attribute applied');
    // Each attempt was refused by the policy, not merely failed.
    for (const directive of ['script-src', 'style-src']) {
      assert.ok(r.violations.some((v) => v.startsWith(directive)), `a ${directive} violation among ${JSON.stringify(r.violations)}`);
    }
    assert.ok(r.violations.length >= 6, `violations: ${JSON.stringify(r.violations)}`);
  } finally {
    await page.close();
  }
});
