// SPDX-License-Identifier: Apache-2.0
// The bytes a real server sends for `BULK <n>`: the AES-128-CTR keystream under a key derived
// from a seed. Both ends can produce it independently (so the client checks the SHA-256 of what
// arrived against what should have), it has no short period that could hide a reordered or
// duplicated segment, and OpenSSL generates it at memory speed, so large transfers measure the
// path and not the generator.

import { createCipheriv, createHash, type Cipher } from 'node:crypto';

export const DEFAULT_BULK_SEED = 'xlvs-bulk';
export const BULK_CHUNK = 64 * 1024;

const ZEROS = new Uint8Array(BULK_CHUNK);

/**
 * A Buffer seen as a plain Uint8Array. @types/node 20's Buffer no longer type-checks as the
 * Uint8Array that TypeScript 5.9's lib expects for crypto inputs; the view costs no copy.
 */
export function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Yields the pattern in chunks of at most BULK_CHUNK bytes, `total` bytes in all. */
export class BulkPattern {
  private readonly cipher: Cipher;
  private left: number;

  constructor(total: number, seed = DEFAULT_BULK_SEED) {
    const key = asBytes(createHash('sha256').update(seed).digest()).subarray(0, 16);
    this.cipher = createCipheriv('aes-128-ctr', key, new Uint8Array(16));
    this.left = total;
  }

  /** The next chunk, or undefined once `total` bytes have been handed out. */
  next(): Uint8Array | undefined {
    if (this.left === 0) return undefined;
    const n = Math.min(this.left, BULK_CHUNK);
    this.left -= n;
    return asBytes(this.cipher.update(ZEROS.subarray(0, n)));
  }
}

/** SHA-256 (hex) of the first `total` bytes of the pattern. */
export function bulkSha256(total: number, seed = DEFAULT_BULK_SEED): string {
  const hash = createHash('sha256');
  const gen = new BulkPattern(total, seed);
  for (let chunk = gen.next(); chunk !== undefined; chunk = gen.next()) hash.update(chunk);
  return hash.digest('hex');
}
