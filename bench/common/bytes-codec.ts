// SPDX-License-Identifier: Apache-2.0
// A codec for a map value that is a fixed-size byte array (a frame template, a config struct
// encoded by hand): shorter values are zero-padded, longer ones refused. General enough for
// src/kernel/codec.ts; here while only the benchmarks use it.

import { bytesAt, type Codec } from '../../src/kernel/codec.js';
import { InvalidArgumentError } from '../../src/errors.js';

export function byteArrayCodec(name: string, size: number): Codec<Buffer> {
  return {
    name,
    size,
    encode: (v, b, o) => {
      if (v.length > size) throw new InvalidArgumentError(`${name} length`, v.length, `must be at most ${size} bytes`);
      b.fill(0, o, o + size);
      b.set(v, o);
    },
    decode: (b, o) => bytesAt(b, o, size),
  };
}
