// SPDX-License-Identifier: Apache-2.0
// The reason a SYN check gives for an ICMP error about its SYN (bpf/probe.h probe_icmp), in the
// words a connect() check would use for the same error, so the two kinds of tcp check read alike.

const V4: Readonly<Record<string, string>> = {
  '3/0': 'ENETUNREACH (ICMP net unreachable)', '3/1': 'EHOSTUNREACH (ICMP host unreachable)',
  '3/3': 'ECONNREFUSED (ICMP port unreachable)', '3/13': 'EHOSTUNREACH (ICMP administratively prohibited)',
  '11/0': 'EHOSTUNREACH (ICMP TTL exceeded in transit)',
};
const V6: Readonly<Record<string, string>> = {
  '1/0': 'ENETUNREACH (ICMPv6 no route)', '1/1': 'EHOSTUNREACH (ICMPv6 administratively prohibited)',
  '1/3': 'EHOSTUNREACH (ICMPv6 address unreachable)', '1/4': 'ECONNREFUSED (ICMPv6 port unreachable)',
  '3/0': 'EHOSTUNREACH (ICMPv6 hop limit exceeded in transit)',
};

/**
 * An ICMP error about a probe's SYN in the words connect() would use: "EHOSTUNREACH (ICMP host
 * unreachable)"; type and code as numbers for the rest.
 */
export function icmpReason(family: 4 | 6, type: number, code: number): string {
  return (family === 4 ? V4 : V6)[`${type}/${code}`] ?? `EHOSTUNREACH (ICMP${family === 6 ? 'v6' : ''} type ${type} code ${code})`;
}
