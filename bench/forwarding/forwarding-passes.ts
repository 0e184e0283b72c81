// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's preparation of a turn and its two extra passes, apart from the
// measured rounds: run-time statistics (kernel ns per run of the router's program, the sink and
// the generator's two programs) and perf profiles of the loop's CPU, where the whole path runs.

import { ProfileError } from '../common/errors.js';
import { CLIENT, type ForwardingEnv } from './forwarding-env.js';
import { PEERS, type Peer, type PeerId } from './forwarding-peers.js';
import { progIdOfFd, progRun, progSnapshot, withRunTimeStats, xdpProgId } from './forwarding-stats.js';
import { profileCpus } from '../common/profile.js';
import type { ForwardingOptions, ForwardingResult, ProgRole } from './forwarding.js';

/** Let frames still in the veth rings land before reading the sink. */
export const SETTLE_MS = 50;
export const FIRST_PORT = 1024;
/** perf's start-up, which the profiled run covers on top of its statsSeconds. */
const PERF_START_S = 1;
/** Symbols shown per profile. */
const PROFILE_TOP = 12;
/** The peers whose paths are profiled: xlvs (many flows, few flows) and the bare forwarder it is read against. */
const PROFILED: readonly PeerId[] = ['xlvs', 'xlvs-16', 'xdp-fwd'];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Configures the peer's stream and warms up: every flow seen three times (xlvs flows and conntrack entries exist), caches warm. */
export async function prepare(env: ForwardingEnv, peer: Peer, o: ForwardingOptions): Promise<void> {
  env.gen.configure({
    srcMac: env.macs.client, dstMac: env.macs.pub0, src: CLIENT, dst: peer.dst, dport: 5353,
    sport: FIRST_PORT, sportCount: peer.ports ?? o.ports, proto: 'udp', payload: 18, order: 'sequential',
  });
  await env.gen.send(Math.max(3 * o.ports, 4096));
  await sleep(SETTLE_MS);
}

export async function statsPass(env: ForwardingEnv, o: ForwardingOptions): Promise<ForwardingResult['progs']> {
  const progs: ForwardingResult['progs'] = [];
  await withRunTimeStats(async () => {
    for (const peer of PEERS) {
      await peer.up(env);
      try {
        await prepare(env, peer, o);
        const ids: Array<[ProgRole, number]> = [
          ...(peer.id === 'baseline' ? [] : [['router', xdpProgId(env.rtrPath, peer.xdpDev)] as [ProgRole, number]]),
          ['sink', progIdOfFd(peer.sink(env).progFd)],
          ['generator', progIdOfFd(env.gen.progFds.gen)],
          ['loop', progIdOfFd(env.gen.progFds.loop)],
        ];
        const before = ids.map(([, id]) => progSnapshot(id));
        await env.gen.sendFor(o.statsSeconds);
        await sleep(SETTLE_MS);
        ids.forEach(([role, id], i) => progs.push({ peer: peer.id, role, run: progRun(before[i]!, progSnapshot(id)) }));
      } finally {
        await peer.down(env);
      }
    }
  });
  return progs;
}

export async function profilePass(env: ForwardingEnv, o: ForwardingOptions): Promise<ForwardingResult['profiles']> {
  const out: ForwardingResult['profiles'] = [];
  for (const peer of PEERS.filter((p) => PROFILED.includes(p.id))) {
    await peer.up(env);
    let run: Promise<unknown> | undefined;
    try {
      await prepare(env, peer, o);
      // The loop runs first and perf is started on its CPU: the samples are of the path only,
      // not of that CPU idling while perf starts (which takes up to a second).
      run = env.gen.sendFor(PERF_START_S + o.statsSeconds);
      const shares = await profileCpus(await env.gen.runningCpus(), run);
      // Self shares: where the samples landed. JIT-ed programs are bpf_prog_<tag>_<name>; the tag is noise here.
      const top = shares.filter((x) => x.self > 0).sort((a, b) => b.self - a.self).slice(0, PROFILE_TOP)
        .map((x) => ({ symbol: x.symbol.replace(/^bpf_prog_[0-9a-f]{16}_/, 'bpf_prog_'), pct: x.self }));
      out.push({ peer: peer.id, top });
    } catch (e) {
      // perf may be missing or refused: the figures stand without it, and the report says why.
      if (!(e instanceof ProfileError)) throw e;
      o.log.warn({ peer: peer.id, err: e }, 'forwarding bench: no perf profile');
      out.push({ peer: peer.id, error: e.message });
    } finally {
      // The run ends by its own deadline; a failure of it has been thrown above already.
      await run?.catch(() => undefined);
      await peer.down(env);
    }
  }
  return out;
}
