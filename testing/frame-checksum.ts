// SPDX-License-Identifier: Apache-2.0
// The Internet checksum (RFC 1071) and the pseudo-headers TCP, UDP and ICMPv6 put under it.
// Plain loops over Buffer: the fuzzer calls these a million times, so nothing allocates.

/** One's-complement sum of bytes [start, end) added to `sum`, not folded (an odd tail is padded). */
export function sum16(b: Buffer, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  // Fold now and then so the number stays an exact integer for any frame size.
  return sum > 0x3fffffff ? fold(sum) : sum;
}

export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for data whose sum (with the field zeroed) is `sum`. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** A region whose checksum field is filled in verifies when its sum folds to 0xffff. */
export function verifies(sum: number): boolean {
  return fold(sum) === 0xffff;
}

/** Sum of an IPv4 or IPv6 pseudo-header; the addresses are read from the IP header at ipOff. */
export function pseudoSum(b: Buffer, ipOff: number, v6: boolean, proto: number, l4Length: number): number {
  const sum = v6 ? sum16(b, ipOff + 8, ipOff + 40) : sum16(b, ipOff + 12, ipOff + 20);
  // IPv6 carries a 32-bit length; for frames it is always < 2^16 here, so the high word is 0.
  return sum + proto + (l4Length & 0xffff) + Math.floor(l4Length / 0x10000);
}

/** The same pseudo-header sum from address bytes held apart (the builder has them before the header). */
export function pseudoSumOf(src: Buffer, dst: Buffer, proto: number, l4Length: number): number {
  return sum16(dst, 0, dst.length, sum16(src, 0, src.length)) + proto + (l4Length & 0xffff) + Math.floor(l4Length / 0x10000);
}
