// SPDX-License-Identifier: Apache-2.0
// Strict dotted-quad IPv4 parsing, shared by the config loader and the gRPC input checks.
//
// Strict on purpose: inet_aton() also accepts "10.1", "0x0a.0.0.1" and "010.0.0.1" (octal!),
// so a lenient parser would let "010.0.0.1" mean 8.0.0.1 to one tool and 10.0.0.1 to
// another. We accept exactly four decimal octets 0..255 without leading zeros.

const OCTET = '(?:0|[1-9][0-9]{0,2})';
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The address as an unsigned 32-bit number in host order (a.b.c.d → a<<24|…|d), or null. */
export function parseIPv4(s: string): number | null {
  if (typeof s !== 'string' || !DOTTED_QUAD.test(s)) return null;
  let n = 0;
  for (const part of s.split('.')) {
    const octet = Number(part);
    if (octet > 255) return null;
    // Multiply instead of shifting: `<<` works on signed 32-bit ints and would go negative.
    n = n * 256 + octet;
  }
  return n;
}

export function isIPv4(s: unknown): s is string {
  return typeof s === 'string' && parseIPv4(s) !== null;
}

/** Inverse of parseIPv4, for values read back from the data plane. */
export function formatIPv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not a uint32 IPv4 address: ${n}`);
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}
