// SPDX-License-Identifier: Apache-2.0
// Public face of the config module: import from here, not from the individual files.

export { loadConfig, parseConfig } from './load.js';
export type { Config, XdpConfig } from './schema.js';
export { isInterfaceName } from './schema.js';
export { formatIPv4, isIPv4, parseIPv4 } from './ipv4.js';
