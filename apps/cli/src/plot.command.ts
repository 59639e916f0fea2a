import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { type ListenAddress, OptionsError, parseInteger } from '@tcpstate/config';
import { layoutTimeline } from '@tcpstate/model';
import { collectorOption, type Command } from './commands.js';
import { buildFilters, filterOptions } from './filter-options.js';
import { renderSvg } from './svg.js';
import { queryWindow, windowOptions } from './timeline-query.js';

function parseOut(text: string): string {
  const ext = extname(text).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') throw new Error(`"${text}" must end in .svg or .png`);
  return text;
}

/** Converts SVG text to a PNG file with librsvg's rsvg-convert. */
export async function writePng(svg: string, out: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-plot-'));
  try {
    const svgFile = join(dir, 'plot.svg');
    await writeFile(svgFile, svg);
    await new Promise<void>((resolve, reject) => {
      const child = spawn('rsvg-convert', ['--format', 'png', '--background-color', 'white', '--output', out, svgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(err.code === 'ENOENT' ? 'writing PNG needs rsvg-convert (Debian package librsvg2-bin): install it, or write .svg' : `rsvg-convert: ${err.message}`)),
      );
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rsvg-convert could not write ${out}: ${stderr.trim() || `exit ${code}`}`))));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `tcpstate plot`: the most recent connections as a picture (SVG, or PNG through rsvg-convert). */
export const plotCommand: Command = {
  name: 'plot',
  usage: '--collector HOST:PORT --out FILE.svg|FILE.png [--last N] [--since 10m] [filters]',
  summary: 'Draw connections\' state timelines to an SVG or PNG file',
  options: [
    { ...collectorOption, default: { host: '127.0.0.1', port: 4280 } },
    { name: 'out', value: 'FILE', description: 'Output file, .svg or .png (required)', parse: parseOut, env: null },
    { name: 'last', value: 'N', description: 'Draw the N most recent connections of the window', parse: (t) => parseInteger(t, 1, 1000), default: 5, env: null },
    ...windowOptions,
    ...filterOptions({ host: true }),
  ],
  async run(values, { out, signal }) {
    const file = values.out as string | undefined;
    if (!file) throw new OptionsError(['--out FILE.svg|FILE.png is required']);
    const { pairs, gaps } = await queryWindow(values.collector as ListenAddress, values, buildFilters(values), signal);
    const chosen = pairs.slice(-(values.last as number));
    const layout = layoutTimeline(chosen, { gaps, top: 40 });
    const title = chosen.length === 0 ? 'tcpstate: no connections in the window' : `tcpstate: ${chosen.length} connection${chosen.length === 1 ? '' : 's'} (client above server; time axis compressed, // = much longer than drawn)`;
    const svg = renderSvg(layout, { title, gaps });
    if (extname(file).toLowerCase() === '.png') await writePng(svg, file);
    else await writeFile(file, svg);
    out(`wrote ${file}: ${chosen.length} connection${chosen.length === 1 ? '' : 's'}${pairs.length > chosen.length ? ` (of ${pairs.length} in the window)` : ''}`);
  },
};
