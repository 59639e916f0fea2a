import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { timelinePageRoot } from './index.js';

describe('timelinePageRoot', () => {
  it('is the built page: index.html loading its bundled script and styles from ./assets', () => {
    const root = timelinePageRoot();
    expect(root).toBe(fileURLToPath(new URL('../dist/page', import.meta.url)));
    const html = readFileSync(join(root, 'index.html'), 'utf8');
    const assets = [...html.matchAll(/(?:src|href)="\.\/assets\/([^"]+)"/g)].map((m) => m[1]);
    expect(assets.filter((a) => a.endsWith('.js'))).toHaveLength(1);
    expect(assets.filter((a) => a.endsWith('.css'))).toHaveLength(1);
    for (const a of assets) expect(existsSync(join(root, 'assets', a))).toBe(true);
  });

  it('bundles everything: no script, style or font from another origin', () => {
    const root = timelinePageRoot();
    const files = ['index.html', ...readdirSync(join(root, 'assets')).filter((f) => !f.endsWith('.map')).map((f) => `assets/${f}`)];
    for (const f of files) {
      const text = readFileSync(join(root, f), 'utf8');
      // The SVG namespace is a name, never fetched.
      expect([f, [...text.matchAll(/https?:\/\/[^\s"'`)]+/g)].map((m) => m[0]).filter((u) => u !== 'http://www.w3.org/2000/svg')]).toEqual([f, []]);
      expect(text).not.toMatch(/from\s*["']node:/);
    }
  });
});
