// The dashboard's HTML: one script with a nonce, one stylesheet, and a CSP
// that allows nothing else: no inline script, no eval, no remote anything.
// Styles: the stylesheet from the extension; the constructable stylesheets the
// toolkit's components adopt and the style properties chart.js sets through
// the CSSOM are not governed by style-src. The one <style> element the
// toolkit creates (a probe for :focus-visible support) carries the nonce it
// finds in <meta property="csp-nonce">, so style-src allows that nonce too;
// never 'unsafe-inline'.
// Used by the extension (extension/dashboard.ts) and by the browser tests.

export interface PageSources {
  /** The webview's cspSource (`webview.cspSource`), or the test server's origin. */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

export function contentSecurityPolicy(s: Pick<PageSources, 'cspSource' | 'nonce'>): string {
  return [`default-src 'none'`, `img-src ${s.cspSource} data:`, `font-src ${s.cspSource}`, `style-src ${s.cspSource} 'nonce-${s.nonce}'`, `script-src 'nonce-${s.nonce}'`].join('; ');
}

const escapeAttr = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function dashboardHtml(s: PageSources): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(s))}">
<meta property="csp-nonce" content="${escapeAttr(s.nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(s.styleUri)}">
<title>Slurm ML Dashboard</title>
</head>
<body>
<script nonce="${escapeAttr(s.nonce)}" src="${escapeAttr(s.scriptUri)}"></script>
</body>
</html>`;
}
