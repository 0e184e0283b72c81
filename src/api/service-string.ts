// SPDX-License-Identifier: Apache-2.0
// The one-line text form of a ServiceKey, "tcp/203.0.113.100:80": what xlvsctl takes in
// --service and what serviceId() in model/types.ts produces.

import { InvalidArgumentError } from '../errors.js';
import type { ServiceKey } from '../model/types.js';
import { checkIPv4, checkPort, checkProtocol, parseDecimal } from './validate.js';

/**
 * Parses "PROTOCOL/VIP:PORT". The protocol is case-insensitive because `xlvsctl list` prints it
 * upper-case (like ipvsadm) and people copy from it. Errors name `field` (e.g. "--service")
 * and the part that is wrong.
 */
export function parseServiceString(text: string, field = '--service'): ServiceKey {
  const slash = text.indexOf('/');
  const colon = text.lastIndexOf(':');
  if (slash <= 0 || colon < slash) {
    throw new InvalidArgumentError(field, text, 'must be PROTOCOL/VIP:PORT, e.g. tcp/203.0.113.100:80');
  }
  return {
    protocol: checkProtocol(`${field} protocol`, text.slice(0, slash).toLowerCase()),
    vip: checkIPv4(`${field} VIP`, text.slice(slash + 1, colon)),
    port: parseDecimal(`${field} port`, text.slice(colon + 1), checkPort),
  };
}
