// esbuild bundles a webview's stylesheet next to its script when main.ts imports it.
declare module '*.css';
