// SPDX-License-Identifier: Apache-2.0
// IPv6 text <-> bytes for the packet test tools. Output is RFC 5952 canonical (lowercase, no
// leading zeros, the longest run of two or more zero groups as "::", the first run on a tie),
// so a parsed frame's addresses compare as plain strings.

const GROUP = /^[0-9a-fA-F]{1,4}$/;

/** 16 bytes for an IPv6 address in any RFC 4291 text form (including a trailing dotted quad), or null. */
export function parseIPv6(s: string): Buffer | null {
  if (typeof s !== 'string' || s.length < 2 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseDottedQuad(item);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (GROUP.test(item)) {
        out.push(parseInt(item, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

export function isIPv6(s: unknown): s is string {
  return typeof s === 'string' && parseIPv6(s) !== null;
}

/** RFC 5952 text of 16 bytes at `off` in `b`. */
export function formatIPv6(b: Buffer, off = 0): string {
  if (off < 0 || off + 16 > b.length) throw new RangeError(`no 16-byte IPv6 address at offset ${off} of ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  // Longest run of zero groups, length >= 2; the first one wins a tie (RFC 5952 4.2.3).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  // IPv4-mapped addresses keep their dotted quad (RFC 5952 section 5).
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`;
  }
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function parseDottedQuad(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}
