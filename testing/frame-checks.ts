// SPDX-License-Identifier: Apache-2.0
// Every checksum of a parsed frame, with its place in the tree, so a test can assert in one line
// that a program's output has no bad checksum left anywhere (quoted packets included).

import type { ParsedFrame, ParsedL4, ParsedRaw } from './frame-parsed.js';

export interface ChecksumResult {
  /** e.g. "l3.checksum", "l3.l4.checksum", "l3.l4.original.checksum" */
  path: string;
  valid: boolean | null;
}

export function checksums(f: ParsedFrame): ChecksumResult[] {
  const out: ChecksumResult[] = [];
  if (f.l3 !== null) walk(f.l3, 'l3', out);
  return out;
}

/** Paths of checksums known to be wrong (unknowable ones, null, are not listed). */
export function badChecksums(f: ParsedFrame): string[] {
  return checksums(f).filter((c) => c.valid === false).map((c) => c.path);
}

function walk(p: ParsedL4 | ParsedRaw, path: string, out: ChecksumResult[]): void {
  switch (p.kind) {
    case 'raw':
      return;
    case 'ipv4':
      out.push({ path: `${path}.checksum`, valid: p.checksumValid });
      walk(p.l4, `${path}.l4`, out);
      return;
    case 'ipv6':
      walk(p.l4, `${path}.l4`, out);
      return;
    case 'tcp':
    case 'udp':
      out.push({ path: `${path}.checksum`, valid: p.checksumValid });
      return;
    case 'icmp':
    case 'icmpv6':
      out.push({ path: `${path}.checksum`, valid: p.checksumValid });
      if (p.original !== undefined) walk(p.original, `${path}.original`, out);
      return;
  }
}
