// SPDX-License-Identifier: Apache-2.0
// Field-level checks shared by the gRPC server (wire input) and xlvsctl (command-line input).
// Each check either returns the value in model form or throws InvalidArgumentError naming
// the field and the value, so callers can validate a whole request before acting on it.

import { InvalidArgumentError } from '../errors.js';
import { isIPv4 } from '../config/ipv4.js';
import type { ForwardMethod, Protocol } from '../model/types.js';

/**
 * A strict dotted IPv4 address. Syntax only, like the config loader: whatever a config file
 * may name as a VIP or real, the API accepts too.
 */
export function checkIPv4(field: string, value: unknown): string {
  // Strict dotted quad (see config/ipv4.ts): no "10.1", no octal-looking "010.0.0.1".
  if (!isIPv4(value)) {
    throw new InvalidArgumentError(field, value, 'must be a dotted IPv4 address like 10.0.0.1');
  }
  return value;
}

function checkIntInRange(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, value, `must be an integer ${min}..${max}`);
  }
  return value;
}

/** A TCP/UDP port, 1..65535 (0 is not a port a service or real can use). */
export function checkPort(field: string, value: unknown): number {
  return checkIntInRange(field, value, 1, 65535);
}

/** A real's weight, 0..65535; 0 quiesces the real. */
export function checkWeight(field: string, value: unknown): number {
  return checkIntInRange(field, value, 0, 65535);
}

/** A protocol name as used in the model and on the command line ("tcp" | "udp"). */
export function checkProtocol(field: string, value: unknown): Protocol {
  if (value === 'tcp' || value === 'udp') return value;
  throw new InvalidArgumentError(field, value, 'must be tcp or udp');
}

/** A forwarding method name as used in the model and on the command line ("nat"). */
export function checkMethod(field: string, value: unknown): ForwardMethod {
  if (value === 'nat') return value;
  throw new InvalidArgumentError(field, value, 'must be nat (the only method implemented)');
}

/**
 * A whole decimal number typed by a person (command line). Rejects "", "1e3", " 8", "0x50",
 * "+8" and "8.0", which Number() would all quietly accept, then range-checks it.
 */
export function parseDecimal(field: string, text: string, check: (field: string, value: unknown) => number): number {
  if (!/^[0-9]+$/.test(text)) throw new InvalidArgumentError(field, text, 'must be a whole decimal number');
  return check(field, Number(text));
}
