import { describe, expect, it } from 'vitest';
import { helpText, OptionsError, parseOptions, type OptionSpec } from './options.js';
import { parseDuration, parseListen, parseSize } from './values.js';

const specs: OptionSpec[] = [
  { name: 'grpc-listen', value: 'HOST:PORT', description: 'gRPC address', parse: parseListen, default: { host: '0.0.0.0', port: 4270 } },
  { name: 'server-endpoint', value: 'IP:PORT', description: 'server', repeatable: true },
  { name: 'heartbeat', value: 'DURATION', description: 'idle', parse: parseDuration, default: 15_000 },
  { name: 'capture', description: 'load BPF', default: true },
];

function problemsOf(argv: string[], env = {}): string[] {
  try {
    parseOptions(specs, argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(OptionsError);
    return (err as OptionsError).problems;
  }
  throw new Error('expected an OptionsError');
}

describe('parseOptions', () => {
  it('applies defaults', () => {
    const { values } = parseOptions(specs, [], {});
    expect(values).toEqual({ grpcListen: { host: '0.0.0.0', port: 4270 }, serverEndpoint: [], heartbeat: 15_000, capture: true });
  });

  it('reads flags in both spellings, repeatable options and --no-', () => {
    const { values } = parseOptions(specs, ['--grpc-listen=127.0.0.1:1', '--server-endpoint', 'a', '--server-endpoint=b', '--no-capture'], {});
    expect(values).toMatchObject({ grpcListen: { host: '127.0.0.1', port: 1 }, serverEndpoint: ['a', 'b'], capture: false });
  });

  it('reads the environment, and the command line wins', () => {
    const env = { TCPSTATE_GRPC_LISTEN: '[::1]:5', TCPSTATE_SERVER_ENDPOINT: 'x, y', TCPSTATE_HEARTBEAT: '2s' };
    expect(parseOptions(specs, [], env).values).toMatchObject({ grpcListen: { host: '::1', port: 5 }, serverEndpoint: ['x', 'y'], heartbeat: 2000 });
    expect(parseOptions(specs, ['--heartbeat', '1m'], env).values.heartbeat).toBe(60_000);
  });

  it('lists every problem, each naming its option', () => {
    expect(problemsOf(['--grpc-listen', 'nope', '--bogus', '--heartbeat', '--heartbeat=1s', '--heartbeat=2s'])).toEqual([
      'unknown option --bogus',
      '--heartbeat needs a value (DURATION)',
      '--heartbeat was given more than once',
      '--grpc-listen: "nope" is not a listen address (expected HOST:PORT or [IPv6]:PORT)',
    ]);
    expect(problemsOf([], { TCPSTATE_HEARTBEAT: 'soon' })).toEqual([
      'TCPSTATE_HEARTBEAT: "soon" is not a duration (examples: 500ms, 15s, 2m, 7d)',
    ]);
    expect(problemsOf(['-x'])).toEqual(['unknown option -x']);
    expect(problemsOf(['--capture=maybe'])).toEqual(['--capture: "maybe" is not true or false']);
  });

  it('reports --help even beside bad options', () => {
    expect(parseOptions(specs, ['--bogus', '-h'], {}).help).toBe(true);
  });

  it('documents every option with its variable and default', () => {
    const text = helpText('prog [options]', 'Does things.', specs);
    expect(text).toContain('--grpc-listen HOST:PORT');
    expect(text).toContain('default 0.0.0.0:4270; env TCPSTATE_GRPC_LISTEN');
    expect(text).toContain('--server-endpoint IP:PORT');
    expect(text).toContain('repeatable');
    expect(text).toContain('--help');
  });
});

describe('values', () => {
  it('parses durations, sizes and listen addresses', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(() => parseDuration('5')).toThrow('not a duration');
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseSize('8M')).toBe(8_000_000);
    expect(() => parseSize('lots')).toThrow('not a size');
    expect(parseListen(':80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseListen('[::]:80')).toEqual({ host: '::', port: 80 });
    expect(() => parseListen('1.2.3.4:70000')).toThrow('outside 0-65535');
    expect(() => parseListen('[nope]:1')).toThrow('not an IPv6 address');
  });
});
