import { toJsonString } from '@bufbuild/protobuf';
import { type ListenAddress, OptionsError } from '@tcpstate/config';
import { ConnectionTimelineSchema } from '@tcpstate/proto';
import { collectorOption, type Command } from './commands.js';
import { buildFilters, filterOptions } from './filter-options.js';
import { formatGaps, formatPair } from './timeline-text.js';
import { queryConnection, queryWindow, windowOptions } from './timeline-query.js';

/** `tcpstate timeline`: one connection (--agent-id and --cookie) or a window of them, as text. */
export const timelineCommand: Command = {
  name: 'timeline',
  usage: '--collector HOST:PORT (--agent-id ID --cookie N | [--since 10m] [filters])',
  summary: 'Show connections as text: both sides, each state with its offset and duration',
  options: [
    { ...collectorOption, default: { host: '127.0.0.1', port: 4280 } },
    { name: 'agent-id', value: 'ID', description: 'With --cookie: show this one connection (GetConnection)', env: null },
    { name: 'boot-id', value: 'ID', description: 'With --agent-id: the agent run the cookie belongs to (default: the collector picks)', env: null },
    ...windowOptions,
    { name: 'json', description: 'Print the timelines as proto3 JSON, one ConnectionTimeline per line', env: null },
    ...filterOptions({ host: true }),
  ],
  async run(values, { out, signal }) {
    const collector = values.collector as ListenAddress;
    const json = values.json === true;
    const print = (pairs: Parameters<typeof formatPair>[0][], reason = '') => {
      pairs.forEach((pair, i) => {
        if (json) {
          for (const t of [pair.client, pair.server, pair.unknown]) if (t) out(toJsonString(ConnectionTimelineSchema, t));
          return;
        }
        if (i > 0) out('');
        for (const line of formatPair(pair, reason)) out(line);
      });
    };
    if (values.agentId !== undefined) {
      const cookies = values.cookie as bigint[];
      if (cookies.length !== 1) throw new OptionsError(['--agent-id needs exactly one --cookie N']);
      const { pair, peerMissingReason } = await queryConnection(collector, { agentId: values.agentId as string, bootId: (values.bootId as string | undefined) ?? '', cookie: cookies[0] }, signal);
      print([pair], peerMissingReason);
      return;
    }
    if (values.bootId !== undefined) throw new OptionsError(['--boot-id needs --agent-id and --cookie']);
    const { pairs, gaps } = await queryWindow(collector, values, buildFilters(values), signal);
    if (pairs.length === 0 && !json) out('No connections in the window.');
    print(pairs);
    if (!json && gaps.length > 0) {
      out('');
      for (const line of formatGaps(gaps)) out(line);
    }
  },
};
