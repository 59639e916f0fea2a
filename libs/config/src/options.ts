import { parseBoolean } from './values.js';

/**
 * One option of a program: `--name VALUE` on the command line, or the
 * environment variable (TCPSTATE_NAME by default). The command line wins.
 */
export interface OptionSpec<T = unknown> {
  /** kebab-case, without dashes: "grpc-listen". */
  name: string;
  /** Placeholder in --help, e.g. "HOST:PORT". Omit for a boolean flag. */
  value?: string;
  description: string;
  /** Turns text into the value; throws an Error whose message explains why not. */
  parse?: (text: string) => T;
  default?: T;
  /** May be given more than once (the environment variable takes a comma-separated list). */
  repeatable?: boolean;
  /** Environment variable, default TCPSTATE_<NAME>; null for none. */
  env?: string | null;
}

export type OptionValues = Record<string, unknown>;

/** Every problem found in the options, each a sentence naming the option. */
export class OptionsError extends Error {
  override name = 'OptionsError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const isFlag = (spec: OptionSpec) => spec.value === undefined;
const envName = (spec: OptionSpec) =>
  spec.env === undefined ? `TCPSTATE_${spec.name.toUpperCase().replace(/-/g, '_')}` : spec.env;
const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Parses argv (without node and script) and the environment against specs.
 * Returns values keyed by camelCase name plus `help` and the positional
 * arguments; throws OptionsError listing every problem at once.
 */
export function parseOptions(
  specs: OptionSpec[],
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { values: OptionValues; positionals: string[]; help: boolean } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const given = new Map<string, string[]>();
  const problems: string[] = [];
  const positionals: string[] = [];
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg !== '-') problems.push(`unknown option ${arg}`);
      else positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = arg.slice(2, eq < 0 ? undefined : eq);
    let text: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    let spec = byName.get(name);
    if (!spec && name.startsWith('no-') && isFlag(byName.get(name.slice(3)) ?? ({} as OptionSpec)) && text === undefined) {
      name = name.slice(3);
      spec = byName.get(name);
      text = 'false';
    }
    if (!spec) {
      problems.push(`unknown option --${name}`);
      continue;
    }
    if (text === undefined) {
      if (isFlag(spec)) text = 'true';
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) text = argv[++i];
      else {
        problems.push(`--${name} needs a value (${spec.value})`);
        continue;
      }
    }
    if (!spec.repeatable && given.has(name)) {
      problems.push(`--${name} was given more than once`);
      continue;
    }
    given.set(name, [...(given.get(name) ?? []), text]);
  }

  const values: OptionValues = {};
  for (const spec of specs) {
    let texts = given.get(spec.name);
    let source = `--${spec.name}`;
    const variable = envName(spec);
    if (!texts && variable && env[variable] !== undefined && env[variable] !== '') {
      const raw = env[variable] as string;
      texts = spec.repeatable ? raw.split(',').map((t) => t.trim()).filter(Boolean) : [raw];
      source = variable;
    }
    const parse = spec.parse ?? (isFlag(spec) ? parseBoolean : (t: string) => t);
    const key = camel(spec.name);
    if (!texts) {
      values[key] = spec.default ?? (spec.repeatable ? [] : undefined);
      continue;
    }
    const parsed: unknown[] = [];
    for (const t of texts) {
      try {
        parsed.push(parse(t));
      } catch (err) {
        problems.push(`${source}: ${(err as Error).message}`);
      }
    }
    values[key] = spec.repeatable ? parsed : parsed[0];
  }
  if (problems.length > 0 && !help) throw new OptionsError(problems);
  return { values, positionals, help };
}

/** The --help text: usage line, summary, then one entry per option with its variable and default. */
export function helpText(usage: string, summary: string, specs: OptionSpec[]): string {
  const lines = [`Usage: ${usage}`, '', summary, '', 'Options:'];
  const left = (s: OptionSpec) => `  --${s.name}${s.value ? ` ${s.value}` : ''}`;
  const width = Math.max(...specs.map((s) => left(s).length), 12) + 2;
  for (const spec of specs) {
    const extra: string[] = [];
    if (spec.repeatable) extra.push('repeatable');
    if (spec.default !== undefined && !(Array.isArray(spec.default) && spec.default.length === 0) && spec.default !== false) {
      extra.push(`default ${describeDefault(spec.default)}`);
    }
    const variable = envName(spec);
    if (variable) extra.push(`env ${variable}`);
    lines.push(`${left(spec).padEnd(width)}${spec.description}${extra.length ? ` (${extra.join('; ')})` : ''}`);
  }
  lines.push(`${'  -h, --help'.padEnd(width)}Show this help and exit`);
  return lines.join('\n');
}

function describeDefault(value: unknown): string {
  if (value && typeof value === 'object' && 'host' in value && 'port' in value) {
    const { host, port } = value as { host: string; port: number };
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }
  return String(value);
}
