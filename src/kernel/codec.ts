// SPDX-License-Identifier: Apache-2.0
// A codec turns a value into the bytes a map holds and back. Struct codecs are
// generated from BTF (src/gen/abi.ts); scalars are here.

export interface Codec<T> {
  name: string;
  size: number;
  encode(v: T, b: Buffer, off: number): void;
  decode(b: Buffer, off: number): T;
}

export const u32: Codec<number> = {
  name: '__u32',
  size: 4,
  encode: (v, b, o) => void b.writeUInt32LE(v >>> 0, o),
  decode: (b, o) => b.readUInt32LE(o),
};

export const u64: Codec<bigint> = {
  name: '__u64',
  size: 8,
  encode: (v, b, o) => void b.writeBigUInt64LE(v, o),
  decode: (b, o) => b.readBigUInt64LE(o),
};

/** A copy of n bytes of b from off (fixed-size byte arrays in ABI structs). */
export function bytesAt(b: Buffer, off: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = b[off + i]!;
  return out;
}
