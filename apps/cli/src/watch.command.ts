import { create, type MessageInitShape, toJsonString } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { Code, ConnectError } from '@connectrpc/connect';
import { type ListenAddress, OptionsError, parseInteger } from '@tcpstate/config';
import { SubscribeResponseSchema, WatchResponseSchema, type Gap, type Heartbeat, type StateChange, type SubscribeResponse, type WatchResponse } from '@tcpstate/proto';
import { agentClient, collectorClient } from './clients.js';
import { agentOption, collectorOption, type Command } from './commands.js';
import { ansiColor, formatEvent, formatGap, formatHeartbeat, noColor } from './event-line.js';
import { buildFilters, filterOptions } from './filter-options.js';

/** Events per response asked of an agent or a collector (max_batch). */
const BATCH = 1000;

const seqOption = (name: string, description: string) => ({ name, value: 'N', description, parse: (t: string) => BigInt(parseInteger(t)), env: null });

/**
 * A Subscribe or Watch stream (the same oneof) as messages to show, each with its proto3 JSON: the
 * events of a batch one by one, each printed as the one-event response it would have been alone.
 */
async function* messagesOf<R extends SubscribeResponse | WatchResponse>(
  stream: AsyncIterable<R>,
  schema: GenMessage<R>,
): AsyncGenerator<[StreamMessage, () => string]> {
  for await (const res of stream) {
    const r = res.response;
    if (r.case === 'events') {
      for (const event of r.value.events) {
        yield [{ event }, () => toJsonString(schema, create(schema, { response: { case: 'event', value: event } } as MessageInitShape<GenMessage<R>>))];
      }
    } else {
      const message: StreamMessage = r.case === 'event' ? { event: r.value } : r.case === 'gap' ? { gap: r.value } : r.case === 'heartbeat' ? { heartbeat: r.value } : {};
      yield [message, () => toJsonString(schema, res)];
    }
  }
}

/** One message of either stream: exactly one field set. */
interface StreamMessage {
  event?: StateChange;
  gap?: Gap;
  heartbeat?: Heartbeat;
}

/**
 * `tcpstate watch`: live transitions from one agent (Subscribe, with replay)
 * or the whole fleet through a collector (Watch), one line each, or proto3
 * JSON lines with --json.
 */
export const watchCommand: Command = {
  name: 'watch',
  usage: '(--agent HOST:PORT | --collector HOST:PORT) [filters] [--json]',
  summary: 'Stream TCP state transitions live, one line each',
  options: [
    agentOption,
    collectorOption,
    { name: 'json', description: 'One proto3 JSON object per line (events, gaps, heartbeats)', env: null },
    seqOption('since-seq', 'Agent only: replay from this seq of the agent\'s current run'),
    seqOption('last', 'Agent only: start with the last N matching events of the replay window'),
    seqOption('first', 'Stop after N matching events'),
    { name: 'follow', description: 'Keep streaming live events after the replay; --no-follow stops after it (agent only)', default: true, env: null },
    ...filterOptions({ host: true }),
  ],
  async run(values, { out, err, signal, color, stderrIsTty }) {
    const agent = values.agent as ListenAddress | undefined;
    const collector = values.collector as ListenAddress | undefined;
    if (!agent === !collector) throw new OptionsError(['give exactly one of --agent HOST:PORT or --collector HOST:PORT']);
    const { include, exclude } = buildFilters(values);
    const sinceSeq = values.sinceSeq as bigint | undefined;
    const last = values.last as bigint | undefined;
    const first = values.first as bigint | undefined;
    const follow = values.follow as boolean;
    if (sinceSeq !== undefined && last !== undefined) throw new OptionsError(['--since-seq and --last cannot be combined']);
    if (collector) {
      const agentOnly = [sinceSeq !== undefined && '--since-seq', last !== undefined && '--last', !follow && '--no-follow'].filter(Boolean);
      if (agentOnly.length > 0) throw new OptionsError([`${agentOnly.join(', ')} work only with --agent (a collector's Watch is live only)`]);
    } else if (include.some((f) => f.host.length > 0) || exclude.some((f) => f.host.length > 0)) {
      throw new OptionsError(['--host works only with --collector']);
    }

    const palette = color ? ansiColor : noColor;
    const json = values.json === true;
    // A heartbeat note on a terminal is rewritten in place by whatever comes next.
    let statusShown = false;
    const clearStatus = () => {
      if (statusShown) process.stderr.write('\r\x1b[K');
      statusShown = false;
    };
    let delivered = 0n;
    const show = (message: StreamMessage, asJson: () => string): boolean => {
      if (json) {
        out(asJson());
      } else if (message.event) {
        clearStatus();
        out(formatEvent(message.event, palette));
      } else if (message.gap) {
        clearStatus();
        out(formatGap(message.gap, palette));
      } else if (message.heartbeat && stderrIsTty) {
        clearStatus();
        process.stderr.write(formatHeartbeat(message.heartbeat));
        statusShown = true;
      }
      if (message.event) delivered++;
      // The agent stops after `first` itself; the collector's Watch has no such field.
      return first === undefined || delivered < first;
    };

    try {
      // Events in batches from either source: on a busy host one response per event costs the sender
      // more than the event (BENCHMARKS.md). Each is still shown alone (messagesOf).
      const messages = agent
        ? messagesOf(
            agentClient(agent).subscribe(
              {
                include,
                exclude,
                since: sinceSeq !== undefined ? { case: 'sinceSeq', value: sinceSeq } : { case: undefined },
                last: last ?? 0n,
                first: first ?? 0n,
                follow,
                maxBatch: BATCH,
              },
              { signal },
            ),
            SubscribeResponseSchema,
          )
        : messagesOf(collectorClient(collector!).watch({ include, exclude, maxBatch: BATCH }, { signal }), WatchResponseSchema);
      for await (const [message, asJson] of messages) if (!show(message, asJson)) break;
    } catch (error) {
      // Ctrl-C: the stream was cancelled on purpose.
      if (signal.aborted && error instanceof ConnectError && error.code === Code.Canceled) return;
      throw error;
    } finally {
      clearStatus();
    }
    if (!json && delivered === 0n && !signal.aborted) err('watch: no transitions matched');
  },
};
