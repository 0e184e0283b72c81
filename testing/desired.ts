// SPDX-License-Identifier: Apache-2.0
// Desired states for tests that drive the reconciler directly (fixtures, fuzz): every field
// the config file would default, defaulted the same way, so a test names only what it cares about.

import {
  DEFAULT_MH_TABLE_SIZE, DEFAULT_SOURCE_VALIDATION, DEFAULT_TIMEOUTS, type AppliedReal, type AppliedService, type AppliedState, type Protocol, type SchedulerName,
} from '../src/model/types.js';

export interface RealInput extends Partial<AppliedReal> {
  address: string;
  port: number;
}

export function real(r: RealInput): AppliedReal {
  return { weight: 1, method: 'nat', upper_threshold: 0, lower_threshold: 0, ...r };
}

export function service(
  vip: string, port: number, protocol: Protocol, scheduler: SchedulerName, reals: RealInput[],
  extra: Partial<Omit<AppliedService, 'vip' | 'port' | 'protocol' | 'scheduler' | 'reals'>> = {},
): AppliedService {
  return {
    vip, port, protocol, scheduler,
    family: vip.includes(':') ? 6 : 4,
    frontends: [{ vip, port, protocol }],
    hash: { fallback: false, port: false },
    mh_table_size: DEFAULT_MH_TABLE_SIZE,
    reals: reals.map(real),
    ...extra,
  };
}

export function desired(services: AppliedService[], extra: Partial<Omit<AppliedState, 'services'>> = {}): AppliedState {
  return { services, timeouts: DEFAULT_TIMEOUTS, hash_seed: 0, local: {}, source_validation: DEFAULT_SOURCE_VALIDATION, ...extra };
}
