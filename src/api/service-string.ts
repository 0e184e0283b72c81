// SPDX-License-Identifier: Apache-2.0
// The one-line text forms xlvsctl takes: a service "tcp/203.0.113.100:80",
// "tcp/[2001:db8::1]:80" or "tcp/203.0.113.100:*" (every port) — what serviceId() in
// model/types.ts produces — and a real "10.77.0.11:80" / "[fd00::11]:80" (what realId() does).

import { InvalidArgumentError } from '../errors.js';
import type { ServiceKey } from '../model/types.js';
import { checkAddress, checkPort, checkProtocol, checkRealPort, parseDecimal } from './validate.js';

/**
 * Splits "HOST:PORT" / "[V6]:PORT" / "HOST" / "[V6]" (port undefined when absent). A bare
 * IPv6 address without brackets is taken whole, as there is no telling its port apart.
 */
export function splitHostPort(text: string): { host: string; port: string | undefined } | null {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    return { host: text.slice(1, close), port: rest === '' ? undefined : rest.slice(1) };
  }
  const colons = text.split(':').length - 1;
  if (colons === 0) return { host: text, port: undefined };
  if (colons === 1) {
    const i = text.indexOf(':');
    return { host: text.slice(0, i), port: text.slice(i + 1) };
  }
  return { host: text, port: undefined };
}

/**
 * Parses "PROTOCOL/VIP:PORT" (PORT may be "*" = every port). The protocol is case-insensitive
 * because `xlvsctl list` prints it upper-case (like ipvsadm) and people copy from it. Errors
 * name `field` (e.g. "--service") and the part that is wrong.
 */
export function parseServiceString(text: string, field = '--service'): ServiceKey {
  const slash = text.indexOf('/');
  const hp = slash > 0 ? splitHostPort(text.slice(slash + 1)) : null;
  if (hp === null || hp.port === undefined) {
    throw new InvalidArgumentError(
      field,
      text,
      'must be PROTOCOL/VIP:PORT, e.g. tcp/203.0.113.100:80, tcp/[2001:db8::1]:80 or tcp/203.0.113.100:* (every port)',
    );
  }
  return {
    protocol: checkProtocol(`${field} protocol`, text.slice(0, slash).toLowerCase()),
    vip: checkAddress(`${field} VIP`, hp.host),
    port: hp.port === '*' ? 0 : parseDecimal(`${field} port`, hp.port, checkPort),
  };
}

/** Parses "ADDR[:PORT]" / "[V6][:PORT]" of a real; the port is undefined when not written. */
export function parseRealString(text: string, field: string): { address: string; port: number | undefined } {
  const hp = splitHostPort(text);
  if (hp === null) throw new InvalidArgumentError(field, text, 'must be ADDRESS[:PORT], e.g. 10.77.0.11:80 or [fd00::11]:80');
  return {
    address: checkAddress(`${field} address`, hp.host),
    port: hp.port === undefined ? undefined : parseDecimal(`${field} port`, hp.port, checkRealPort),
  };
}
