// SQL text with its parameters, written once for both back-ends: `?` marks a
// parameter, and the PostgreSQL runner renumbers them to $1, $2, ...
// Values are never spliced into the text.

/** A piece of SQL and the parameters of its `?` placeholders, in order. */
export class Sql {
  constructor(
    readonly text: string,
    readonly params: readonly unknown[],
  ) {}
}

/**
 * Tagged template: `sql\`a = ${x}\`` gives text "a = ?" and params [x]; an
 * interpolated Sql is inlined with its own parameters.
 */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Sql {
  let text = strings[0];
  const params: unknown[] = [];
  values.forEach((value, i) => {
    if (value instanceof Sql) {
      text += value.text;
      params.push(...value.params);
    } else {
      text += '?';
      params.push(value);
    }
    text += strings[i + 1];
  });
  return new Sql(text, params);
}

/** Trusted SQL text without parameters (names, keywords, constants of ours). */
export function raw(text: string): Sql {
  return new Sql(text, []);
}

/** Joins pieces with a separator: join([a, b], ' OR '). */
export function join(parts: readonly Sql[], separator: string): Sql {
  return new Sql(
    parts.map((p) => p.text).join(separator),
    parts.flatMap((p) => p.params),
  );
}

/** "(?, ?, ?)" for an IN list; the list must not be empty. */
export function list(values: readonly unknown[]): Sql {
  if (values.length === 0) throw new Error('an SQL IN list needs at least one value');
  return new Sql(`(${values.map(() => '?').join(', ')})`, values);
}

/** Rewrites `?` placeholders to PostgreSQL's numbered $1, $2, ... */
export function numberedPlaceholders(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** A row as a driver returns it; integers arrive as bigint (see each back-end). */
export type Row = Record<string, unknown>;

/** Runs shared read queries against either back-end. */
export interface SqlRunner {
  readonly dialect: 'sqlite' | 'postgres';
  all(query: Sql): Promise<Row[]>;
  /** The database's notion of now, in ns since the epoch, as an SQL expression. */
  nowNs(): Sql;
}
