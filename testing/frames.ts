// SPDX-License-Identifier: Apache-2.0
// Ethernet frames for tests: describe one (FrameSpec), build its bytes, parse any bytes back
// into a structured, comparable tree, and list its checksums. The pieces live in frame-*.ts.

export * from './frame-spec.js';
export type * from './frame-parsed.js';
export { buildFrame, buildPacket, protoOf } from './frame-build.js';
export { parseFrame, parsePacket } from './frame-parse.js';
export { checksums, badChecksums, type ChecksumResult } from './frame-checks.js';
// IPv6 text <-> bytes: the model's codec (RFC 5952 output), so parsed addresses compare as strings.
export { parseIPv6, formatIPv6 } from '../src/model/ip.js';
