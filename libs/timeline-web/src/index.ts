/**
 * @tcpstate/timeline-web: the web timeline page (connections as lanes, client
 * above server, each state a labelled bar on libs/model's compressed axis,
 * zoom, pan and a live mode that follows Watch). The page itself is browser
 * code under src/page, bundled by vite into dist/page; this Node entry only
 * says where that bundle is, for the collector to serve it.
 */
import { fileURLToPath } from 'node:url';

/**
 * The absolute path of the built page directory (index.html and assets/),
 * `libs/timeline-web/dist/page`. The same from dist/index.js and from the
 * TypeScript source (vitest). The directory exists once the library is built.
 */
export function timelinePageRoot(): string {
  return fileURLToPath(new URL('../dist/page', import.meta.url));
}
