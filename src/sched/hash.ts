// SPDX-License-Identifier: Apache-2.0
// The packet hash of sh, dh and mh, bit for bit the one in bpf/hash.h: the control plane uses it
// to predict picks (tests) and, over a real's identity, to lay out maglev permutations. Murmur3's
// 32-bit block round over words, then its finaliser; every word is a number as spelled in
// network order, so the value does not depend on a CPU's byte order.

import { InvalidArgumentError } from '../errors.js';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** Murmur3's block round: mixes word k into state h. */
export function hashRound(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = rotl(k, 15);
  k = Math.imul(k, C2);
  h = (h ^ k) >>> 0;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** Murmur3's finaliser. */
export function hashFmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * xlvs_hash_addr(): an address in ABI form (16 bytes, IPv4 in the first 4), its family (4/6),
 * a port (0 when the scheduler ignores ports), keyed by seed; round 0 is the first choice and
 * 1, 2, ... the fallback rehashes.
 */
export function hashAddr(addr: Buffer, family: number, port: number, seed: number, round: number): number {
  if (addr.length !== 16) throw new InvalidArgumentError('addr', addr.length, 'must be 16 bytes (ABI form)');
  let h = seed >>> 0;
  for (let i = 0; i < 16; i += 4) h = hashRound(h, addr.readUInt32BE(i));
  h = hashRound(h, ((family << 16) | (port & 0xffff)) >>> 0);
  h = hashRound(h, round >>> 0);
  return hashFmix((h ^ 24) >>> 0);
}

/**
 * A string's hash (its UTF-8 bytes, four to a word, big-endian, zero-padded), keyed by seed and
 * tweak: how a real's identity ("10.77.0.11:80") becomes its maglev offset and skip.
 */
export function hashString(s: string, seed: number, tweak: number): number {
  const len = Buffer.byteLength(s, 'utf8');
  const padded = Buffer.alloc(Math.ceil(len / 4) * 4);
  padded.write(s, 'utf8');
  let h = hashRound(seed >>> 0, tweak >>> 0);
  for (let i = 0; i < padded.length; i += 4) h = hashRound(h, padded.readUInt32BE(i));
  return hashFmix((h ^ len) >>> 0);
}
