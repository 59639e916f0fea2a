// Varints for the store's own BLOB formats (segment-codec.ts, event-block.ts):
// unsigned integers below 2^53 as LEB128, 64-bit differences zigzag-mapped so
// small magnitudes of either sign take few bytes, strings as length + UTF-8.
import { StoreError } from './errors.js';

/** Values of smaller magnitude zigzag-map below 2^53, exact in a double. */
const SAFE_HALF_NUMBER = 2 ** 52;

export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  byte(value: number): void {
    if (this.length === this.buffer.length) this.grow(1);
    this.buffer[this.length++] = value;
  }

  private grow(atLeast: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + atLeast));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  /** A string: its UTF-8 length, then its bytes. */
  text(value: string): void {
    const length = Buffer.byteLength(value);
    this.uint(length);
    if (this.length + length > this.buffer.length) this.grow(length);
    this.length += this.buffer.write(value, this.length, 'utf8');
  }

  /** A safe integer of either sign (zigzag). */
  int(value: number): void {
    this.uint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  /** A non-negative integer below 2^53. */
  uint(value: number): void {
    while (value >= 0x80) {
      this.byte((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.byte(value);
  }

  /** A difference of two 64-bit values, wrapped to 64 bits and zigzag-mapped so small magnitudes take few bytes. */
  zigzag(difference: bigint): void {
    // Most differences are far below 2^52: map them in numbers, without further bigint operations (the
    // conversion is exact below 2^52 and rounds a larger magnitude to at least 2^52, so the test is exact).
    const n = Number(difference);
    if (n > -SAFE_HALF_NUMBER && n < SAFE_HALF_NUMBER) {
      this.uint(n >= 0 ? n * 2 : -n * 2 - 1);
      return;
    }
    const value = BigInt.asIntN(64, difference);
    const v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
    if (v < 0x20000000000000n) {
      this.uint(Number(v));
      return;
    }
    // Larger (a connection's first start, absolute): 7 bits at a time from two 32-bit halves, in numbers.
    let high = Number(v >> 32n);
    let low = Number(v & 0xffffffffn);
    while (high > 0 || low >= 0x80) {
      this.byte((low & 0x7f) | 0x80);
      low = ((low >>> 7) | ((high & 0x7f) << 25)) >>> 0;
      high >>>= 7;
    }
    this.byte(low);
  }

  done(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class ByteReader {
  constructor(
    private readonly bytes: Uint8Array,
    private offset: number,
    /** What is being read, for errors: "stored segments". */
    private readonly what: string,
  ) {}

  atEnd(): boolean {
    return this.offset >= this.bytes.length;
  }

  private next(): number {
    if (this.offset >= this.bytes.length) throw new StoreError(`${this.what} end in the middle of a value`);
    return this.bytes[this.offset++];
  }

  /** Steps over `count` varints without reading them. */
  skip(count: number): void {
    for (let i = 0; i < count; i++) while (this.next() >= 0x80);
  }

  /** Steps over a string. */
  skipText(): void {
    const length = this.uint();
    if (this.offset + length > this.bytes.length) throw new StoreError(`${this.what} end in the middle of a string`);
    this.offset += length;
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.next();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
  }

  text(): string {
    const length = this.uint();
    if (this.offset + length > this.bytes.length) throw new StoreError(`${this.what} end in the middle of a string`);
    const value = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.offset, length).toString('utf8');
    this.offset += length;
    return value;
  }

  int(): number {
    const value = this.uint();
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
  }

  zigzag(): bigint {
    // Up to 7 bytes (49 bits) a double holds the value exactly: the common case.
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let n = 0; n < 7; n++) {
      const b = this.next();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(value % 2 === 0 ? value / 2 : -(value + 1) / 2);
      scale *= 0x80;
    }
    this.offset = start;
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.next();
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7n;
    }
    return BigInt.asIntN(64, (v >> 1n) ^ -(v & 1n));
  }
}
