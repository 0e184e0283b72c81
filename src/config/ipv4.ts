// SPDX-License-Identifier: Apache-2.0
// Kept for the modules that import IPv4 helpers from the config: the one implementation, with
// IPv6 beside it, is model/ip.ts.

export { formatIPv4, isIPv4, parseIPv4 } from '../model/ip.js';
