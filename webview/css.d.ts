// esbuild bundles CSS imported from the page into dist/webview.css.
declare module '*.css';
