// SPDX-License-Identifier: Apache-2.0
// What `xlvsd --teardown` does for HA: the floating addresses the daemon put on its interfaces
// come off (recorded in the state dir's ha.json: without the data plane's ARP/ND gate the kernel
// would answer for them and fight the peer), and with the config at hand the peer is told
// GOODBYE, so it takes over now rather than when the restart hold a SIGTERM asked for runs out.

import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { Netlink } from '../host/netlink.js';
import { deleteAddress } from '../host/addresses.js';
import { NetlinkError } from '../errors.js';
import { isIPv4 } from '../model/ip.js';
import { HaStateFile } from './ha-state.js';
import { encodeHeartbeat } from './heartbeat.js';

const EADDRNOTAVAIL = 99;
const ENODEV = 19;

export function removeRecordedFloating(stateDir: string, log: Logger): void {
  const file = new HaStateFile(stateDir, log);
  const recorded = file.saved.floating;
  if (Object.keys(recorded).length === 0) return;
  const nl = Netlink.open();
  try {
    let removed = 0;
    for (const [dev, list] of Object.entries(recorded)) {
      for (const address of list) {
        try {
          deleteAddress(nl, { address, prefixlen: isIPv4(address) ? 32 : 128, dev });
          removed++;
        } catch (e) {
          // Already gone (removed by hand, or the interface with it): nothing left to do.
          if (e instanceof NetlinkError && (e.errno === EADDRNOTAVAIL || e.errno === ENODEV)) continue;
          throw e;
        }
      }
    }
    file.save({ floating: {} });
    log.info({ removed }, 'ha: floating addresses removed');
  } finally {
    nl.close();
  }
}

export async function sayGoodbye(config: Config, log: Logger): Promise<void> {
  const ha = config.ha;
  if (!ha) return;
  const now = Date.now();
  for (const [path, local, peer] of [['public', ha.local.public, ha.peer.public], ['private', ha.local.private, ha.peer.private]] as const) {
    const msg = encodeHeartbeat({
      type: 'goodbye', name: ha.node, priority: 0, role: 'backup', hold: false, inSync: false, bulkDone: false, path,
      epoch: now, seq: 1, timeMs: now, holdMs: 0, syncLagMs: 0,
    }, ha.key);
    const socket = createSocket(isIPv4(local) ? 'udp4' : 'udp6');
    await new Promise<void>((resolve) => {
      socket.once('error', (e) => {
        log.warn({ err: e, peer }, `ha: GOODBYE to ${peer} not sent: ${e.message}`);
        resolve();
      });
      socket.bind({ address: local, port: 0 }, () => socket.send(new Uint8Array(msg), ha.port, peer, () => resolve()));
    });
    socket.close();
  }
  log.info({ peer: ha.peer.name }, 'ha: GOODBYE sent');
}
