// Checks an addon file before dlopen() sees it. dlopen maps a shared library's segments straight
// from the file: one cut short (an interrupted download or copy) is mapped past its end, and the
// process dies of SIGBUS while the loader reads it, before JavaScript can catch anything. So the
// ELF headers are read here first, and every segment and table they describe must lie inside the
// file. Prebuilt files also carry a SHA-256 (written by scripts/prebuild.mjs beside each .node), which
// catches damage anywhere in them.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

const PT_LOAD = 1;

function readHeader(file: string): { head: Buffer; size: number } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    readSync(fd, head, 0, head.length, 0);
    return { head, size };
  } finally {
    closeSync(fd);
  }
}

/** '' when the ELF file's headers, program segments and section table fit in it, else what is wrong. */
export function checkElfBounds(head: Buffer, size: number): string {
  if (size < 16 || head.readUInt32BE(0) !== 0x7f454c46) return ''; // not ELF: dlopen refuses it cleanly
  const is64 = head[4] === 2;
  const le = head[5] === 1;
  const headerSize = is64 ? 64 : 52;
  if (size < headerSize) return `cut short: ${size} bytes, less than an ELF header`;
  const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const uword = (o: number) => (is64 ? Number(le ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o)) : u32(o));
  const phoff = uword(is64 ? 32 : 28);
  const shoff = uword(is64 ? 40 : 32);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const shentsize = u16(is64 ? 58 : 46);
  const shnum = u16(is64 ? 60 : 48);
  const phEnd = phoff + phnum * phentsize;
  if (phEnd > size) return `cut short: its program headers end at byte ${phEnd}, the file has ${size} bytes`;
  if (phEnd > head.length) return `not a linker's output: its program headers lie beyond the first ${head.length} bytes`;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (u32(p) !== PT_LOAD) continue;
    const offset = uword(is64 ? p + 8 : p + 4);
    const filesz = uword(is64 ? p + 32 : p + 16);
    if (offset + filesz > size) return `cut short: a loadable segment ends at byte ${offset + filesz}, the file has ${size} bytes`;
  }
  if (shoff && shoff + shnum * shentsize > size)
    return `cut short: its section table ends at byte ${shoff + shnum * shentsize}, the file has ${size} bytes`;
  return '';
}

/** '' when `<file>.sha256` is absent or matches, else the mismatch. */
export function checkChecksum(file: string): string {
  const sumFile = `${file}.sha256`;
  if (!existsSync(sumFile)) return '';
  const expected = readFileSync(sumFile, 'utf8').trim().split(/\s+/)[0]?.toLowerCase();
  const actual = createHash('sha256').update(readFileSync(file)).digest('hex');
  return expected === actual ? '' : `its SHA-256 is not the one recorded in ${sumFile} at build time`;
}

/** '' when the addon file looks safe to hand to dlopen, else why not (it is then not loaded). */
export function checkAddonFile(file: string): string {
  const { head, size } = readHeader(file);
  return checkElfBounds(head, size) || checkChecksum(file);
}
