// SPDX-License-Identifier: Apache-2.0
// Frontends must not overlap: each vip+port+protocol (port 0 = every port) belongs to one
// service. A port-all frontend and a specific port of the same VIP+protocol may coexist: the
// specific one wins, as an IPVS service on VIP:port wins over a firewall-mark service that
// catches the rest. Two port-all frontends of one VIP+protocol are the same key: a conflict.

import { serviceId } from '../model/types.js';
import type { At } from './service.js';
import type { Frontend } from '../model/types.js';
import type { Walker } from './yaml-walk.js';

/** Rejects the second frontend that repeats an earlier one, in service order then list order. */
export function checkFrontendOverlap(w: Walker, services: readonly (readonly At<Frontend>[])[]): void {
  const owner = new Map<string, string>(); // serviceId(frontend) → path where first written
  for (const sources of services) {
    for (const f of sources) {
      const id = serviceId(f.value);
      const first = owner.get(id);
      if (first !== undefined) w.fail(f.node, f.path, id, `frontend already served by ${first}`);
      owner.set(id, f.path);
    }
  }
}
