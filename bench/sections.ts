// SPDX-License-Identifier: Apache-2.0
// Every benchmark section, in report order. A new benchmark adds its SectionRunner here.

import type { SectionRunner } from './section.js';
import { perPacket } from './per-packet.js';
import { flowScale } from './flow-scale.js';

export const SECTIONS: readonly SectionRunner[] = [perPacket, flowScale];
