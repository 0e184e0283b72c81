// SPDX-License-Identifier: Apache-2.0
// Every benchmark section, in report order. A new benchmark adds its SectionRunner here.

import type { SectionRunner } from './common/section.js';
import { perPacket } from './per-packet/per-packet.js';
import { forwarding } from './forwarding/forwarding.js';
import { connections } from './connections/connections.js';
import { flowScale } from './flow-scale/flow-scale.js';
import { controlPlane } from './control-plane/control-plane.js';
import { healthChecks } from './health-checks/health-checks.js';
import { haFailover } from './ha-failover/ha-failover.js';
import { haSync } from './ha-sync/ha-sync.js';

export const SECTIONS: readonly SectionRunner[] = [perPacket, forwarding, connections, flowScale, controlPlane, healthChecks, haFailover, haSync];
