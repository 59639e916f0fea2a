// A batch goes to PostgreSQL as one array per column (`unnest($1::bigint[],
// ...)`), one statement for the lot. The arrays are written here as
// PostgreSQL array literals, text: pg's own serializer escapes every element
// with a regular expression and was a third of the collector's CPU at ingest.
// Numbers need no escaping at all; text is quoted only when it must be.

/** Element types the batches use. */
export type PgArrayType = 'bigint' | 'integer' | 'smallint' | 'text' | 'bytea' | 'boolean';

/** The PostgreSQL array literal of `values` (null and undefined are NULL). */
export function arrayLiteral(values: readonly unknown[], type: PgArrayType): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = element(values[i], type);
  return `{${parts.join(',')}}`;
}

function element(value: unknown, type: PgArrayType): string {
  if (value === null || value === undefined) return 'NULL';
  switch (type) {
    case 'bigint':
    case 'integer':
    case 'smallint':
      if (typeof value !== 'bigint' && !(typeof value === 'number' && Number.isInteger(value))) {
        throw new TypeError(`a ${type} array element must be an integer, got ${String(value)}`);
      }
      return String(value);
    case 'boolean':
      return value ? 't' : 'f';
    case 'bytea':
      // The hex form \x..., its backslash doubled inside the quoted element.
      return `"\\\\x${Buffer.from(value as Uint8Array).toString('hex')}"`;
    case 'text':
      return quoted(String(value));
  }
}

/** Text as a quoted array element: backslash and double quote escaped. */
function quoted(text: string): string {
  return /["\\]/.test(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : `"${text}"`;
}

/** One array literal per column of `rows` (each row's values in `types`' order). */
export function columnLiterals(rows: readonly (readonly unknown[])[], types: readonly PgArrayType[]): string[] {
  return types.map((type, i) => arrayLiteral(rows.map((row) => row[i]), type));
}
