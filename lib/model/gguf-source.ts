// Bounded, incremental reading of a GGUF header. The parser never sees more than a window of
// the file, and every claimed length is compared with the bytes that remain before a byte is
// read or a buffer allocated: a hostile header can make the reader fail, never allocate more
// than the file holds.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelLoadError } from '../errors.js';

/** Where the bytes come from: a file on disk, or a buffer (tests, fuzzing). */
export interface ByteSource {
  readonly size: number;
  /** Exactly the bytes [position, position + length), which the caller has checked lie in the file. */
  read(position: number, length: number): Buffer;
  close(): void;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { size: buf.length, read: (position, length) => buf.subarray(position, position + length), close() {} };
}

export function fileSource(path: string): ByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ModelLoadError(`cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  const stats = fstatSync(fd);
  if (!stats.isFile()) {
    closeSync(fd);
    throw new ModelLoadError(`${path} is not a file: pass the path of a .gguf file`);
  }
  return {
    size: stats.size,
    read(position, length) {
      const out = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        let n: number;
        try {
          n = readSync(fd, out, done, length - done, position + done);
        } catch (e) {
          throw new ModelLoadError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
        }
        // The file shrank under us: report it as a truncation rather than return stale bytes.
        if (n === 0) throw new ModelLoadError(`${path}: the file ended at byte ${position + done} while reading it (was it truncated while loading?)`);
        done += n;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}

// Large enough that a 150k-token vocabulary takes a few dozen reads, small enough that reading the
// header of a multi-gigabyte file touches a bounded amount of it.
const WINDOW_BYTES = 256 * 1024;
const TWO_POW_32 = 2 ** 32;

/** A cursor over a ByteSource with bounds-checked little-endian primitives. */
export class BoundedReader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  /** Absolute position of the next byte to read. */
  pos = 0;
  /** What is being read, for error messages ("metadata key 'general.name'"). */
  context = 'the header';

  constructor(
    private readonly source: ByteSource,
    private readonly label: string,
  ) {}

  get size(): number {
    return this.source.size;
  }

  get remaining(): number {
    return this.source.size - this.pos;
  }

  fail(message: string): never {
    throw new ModelLoadError(`${this.label}: ${message} (at byte ${this.pos}, reading ${this.context})`);
  }

  /** Fails unless `bytes` more bytes exist; `what` says what needs them. */
  require(bytes: number, what: string): void {
    if (!(bytes <= this.remaining)) {
      this.fail(
        `${what} needs ${bytes} bytes but only ${this.remaining} remain in the ${this.size}-byte file: ` +
          'the file is truncated or corrupt (re-download or re-convert it)',
      );
    }
  }

  /** Makes [pos, pos + n) readable from the window; n has been checked against `remaining`. */
  private ensure(n: number): number {
    const at = this.pos - this.windowStart;
    if (at >= 0 && at + n <= this.window.length) return at;
    const length = Math.min(Math.max(n, WINDOW_BYTES), this.remaining);
    this.window = this.source.read(this.pos, length);
    this.windowStart = this.pos;
    return 0;
  }

  u8(): number {
    this.require(1, 'a 1-byte value');
    const at = this.ensure(1); // before reading this.window: ensure() may replace it
    const v = this.window[at];
    this.pos += 1;
    return v;
  }

  u32(): number {
    this.require(4, 'a 4-byte value');
    const at = this.ensure(4);
    const v = this.window.readUInt32LE(at);
    this.pos += 4;
    return v;
  }

  /**
   * A uint64 used as a count, length, dimension or offset: anything above 2^53 cannot be a real
   * size in a file, so it is rejected here instead of carried around as a bigint.
   */
  size64(what: string): number {
    this.require(8, what);
    const at = this.ensure(8);
    const lo = this.window.readUInt32LE(at);
    const hi = this.window.readUInt32LE(at + 4);
    if (hi >= 0x200000) this.fail(`${what} is ${(BigInt(hi) << 32n) | BigInt(lo)}, larger than any file`);
    this.pos += 8;
    return hi * TWO_POW_32 + lo;
  }

  /** `n` raw bytes as a view into the window (valid until the next read). */
  bytes(n: number, what: string): Buffer {
    this.require(n, what);
    const at = this.ensure(n);
    this.pos += n;
    return this.window.subarray(at, at + n);
  }

  /** A GGUF string: a uint64 byte length, then UTF-8 bytes (invalid sequences become U+FFFD). */
  string(what: string): string {
    const length = this.size64(`the length of ${what}`);
    this.require(length, `${what} (${length} bytes)`);
    const at = this.ensure(length);
    this.pos += length;
    return this.window.toString('utf8', at, at + length);
  }

  skipTo(position: number): void {
    this.pos = position;
  }
}
