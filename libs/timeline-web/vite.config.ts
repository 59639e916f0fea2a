// Bundles the page (index.html, src/page/*.ts, style.css) into dist/page:
// everything in the bundle, nothing fetched from elsewhere, so it works with
// no internet. Relative asset URLs: the page works under any path.
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  // The libraries' TypeScript sources, as vitest uses them (libs/model's
  // browser entry: no Node APIs in the bundle).
  resolve: { conditions: ['@tcpstate/source', ...defaultClientConditions] },
  build: {
    outDir: 'dist/page',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
});
