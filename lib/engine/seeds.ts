// The seed of each output of a request. A seed makes a request reproducible however it is batched
// (the sampler's random numbers depend only on the seed and the output index), and each of the n
// outputs needs its own stream.
import { randomBytes } from 'node:crypto';

const U64 = (1n << 64n) - 1n;

/** splitmix64's finaliser: nearby inputs give unrelated seeds. */
function mix64(x: bigint): bigint {
  x = (x + 0x9e3779b97f4a7c15n) & U64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & U64;
  return x ^ (x >> 31n);
}

/** The seed of each of the n outputs: the request's seed (mixed with the index when n > 1), or random. */
export function outputSeeds(seed: bigint | null, n: number): bigint[] {
  if (seed === null) return Array.from({ length: n }, () => randomBytes(8).readBigUInt64LE());
  if (n === 1) return [seed];
  return Array.from({ length: n }, (_, k) => mix64(seed ^ mix64(BigInt(k))));
}
