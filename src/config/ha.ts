// SPDX-License-Identifier: Apache-2.0
// The `ha:` section of the config file (active/backup routers, docs: the HA design): HaConfig, or
// a ConfigError naming the field and value. The shared key is read here, at load, like the rest
// of the file; its errors name ha.key_file and the path, never the content.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { isScalar, type Node } from 'yaml';
import type { HaConfig } from '../ha/types.js';
import { familyOf } from '../model/ip.js';
import type { LocalAddresses, ServiceSpec } from '../model/types.js';
import { readAddress } from './address.js';
import { type Walker, childPath, itemPath } from './yaml-walk.js';

/** The longest restart hold a config may ask for (and a peer's RESTARTING is held to). */
export const HA_MAX_RESTART_HOLD_MS = 120_000;

export const HA_DEFAULTS = Object.freeze({
  port: 7707,
  syncPort: 7708,
  intervalMs: 100,
  deadIntervals: 3,
  preempt: true,
  preemptDelayMs: 0,
  restartHoldMs: 10_000,
  maxSkewMs: 5000,
  announce: Object.freeze({ count: 3, spacingMs: 10, refreshMs: 0 }),
});

/** The shortest shared key: 256 bits, HMAC-SHA256's own strength. */
export const HA_MIN_KEY_BYTES = 32;
/** The longest key file read: a key is short, and a path to /dev/zero must not fill memory. */
export const HA_MAX_KEY_BYTES = 4096;

const NODE_NAME = /^[A-Za-z0-9._-]{1,32}$/;
const NODE_REASON = 'must be 1..32 of A-Z a-z 0-9 . _ -';

/** The section as read, with the nodes the checks against the rest of the file point at. */
export interface RawHa {
  config: HaConfig;
  gateway: { node: Node; address: string }[];
}

/** Reads `ha:`; finishHa() checks it against the services and local_addresses. */
export function readHa(w: Walker, node: Node, path: string): RawHa {
  const c: Partial<HaConfig> & { announce: HaConfig['announce'] } = {
    port: HA_DEFAULTS.port,
    syncPort: HA_DEFAULTS.syncPort,
    intervalMs: HA_DEFAULTS.intervalMs,
    deadIntervals: HA_DEFAULTS.deadIntervals,
    preempt: HA_DEFAULTS.preempt,
    preemptDelayMs: HA_DEFAULTS.preemptDelayMs,
    restartHoldMs: HA_DEFAULTS.restartHoldMs,
    maxSkewMs: HA_DEFAULTS.maxSkewMs,
    gateway: [],
    announce: { ...HA_DEFAULTS.announce },
  };
  const gateway: RawHa['gateway'] = [];
  const nodes: Record<string, Node> = {};
  // `ha:` with everything commented out would silently turn HA off: say what is missing.
  if (isScalar(node) && node.value === null) {
    w.fail(node, childPath(path, 'node'), undefined, 'required field missing');
  }
  w.fields(
    node,
    path,
    {
      node: (n, p) => (c.node = w.str(n, p, (s) => NODE_NAME.test(s), NODE_REASON)),
      priority: (n, p) => (c.priority = w.int(n, p, 1, 254)),
      local: (n, p) => {
        const a = { public: '', private: '' };
        w.fields(n, p, {
          public: (m, q) => (a.public = readAddress(w, m, q)),
          private: (m, q) => (a.private = readAddress(w, m, q)),
        }, ['public', 'private']);
        c.local = a;
      },
      peer: (n, p) => {
        const a = { name: '', public: '', private: '' };
        w.fields(n, p, {
          name: (m, q) => ((a.name = w.str(m, q, (s) => NODE_NAME.test(s), NODE_REASON)), (nodes.peerName = m)),
          public: (m, q) => ((a.public = readAddress(w, m, q)), (nodes.peerPublic = m)),
          private: (m, q) => ((a.private = readAddress(w, m, q)), (nodes.peerPrivate = m)),
        }, ['name', 'public', 'private']);
        c.peer = a;
      },
      port: (n, p) => ((c.port = w.int(n, p, 1, 65535)), (nodes.port = n)),
      sync_port: (n, p) => ((c.syncPort = w.int(n, p, 1, 65535)), (nodes.syncPort = n)),
      interval_ms: (n, p) => (c.intervalMs = w.int(n, p, 10, 10_000)),
      dead_intervals: (n, p) => (c.deadIntervals = w.int(n, p, 2, 100)),
      key_file: (n, p) => {
        c.keyFile = w.str(n, p, isAbsolute, 'must be an absolute path');
        c.key = readKey(w, n, p, c.keyFile);
      },
      preempt: (n, p) => (c.preempt = w.bool(n, p)),
      preempt_delay_ms: (n, p) => (c.preemptDelayMs = w.int(n, p, 0, 3_600_000)),
      restart_hold_ms: (n, p) => (c.restartHoldMs = w.int(n, p, 0, HA_MAX_RESTART_HOLD_MS)),
      max_skew_ms: (n, p) => (c.maxSkewMs = w.int(n, p, 100, 600_000)),
      gateway: (n, p) => {
        for (const [i, { node: item, site }] of w.seq(n, p, true).entries()) {
          const q = itemPath(p, i);
          const address = readAddress(w, item, q);
          if (gateway.some((g) => g.address === address)) w.fail(site, q, address, 'is listed twice');
          gateway.push({ node: item, address });
        }
      },
      announce: (n, p) => readAnnounce(w, n, p, c.announce),
    },
    ['node', 'priority', 'local', 'peer', 'key_file'],
  );
  const cfg = c as HaConfig;
  if (cfg.peer.name === cfg.node) w.fail(nodes.peerName as Node, childPath(path, 'peer.name'), cfg.peer.name, `must differ from ${childPath(path, 'node')}`);
  for (const side of ['public', 'private'] as const) {
    const at = (side === 'public' ? nodes.peerPublic : nodes.peerPrivate) as Node;
    const field = childPath(path, `peer.${side}`);
    const mine = cfg.local[side];
    if (familyOf(mine) !== familyOf(cfg.peer[side])) {
      w.fail(at, field, cfg.peer[side], `must be of the family of ${childPath(path, `local.${side}`)} (IPv${familyOf(mine)})`);
    }
    if (mine === cfg.peer[side]) w.fail(at, field, cfg.peer[side], `must differ from ${childPath(path, `local.${side}`)}`);
  }
  if (cfg.syncPort === cfg.port) {
    const at = nodes.syncPort ?? (nodes.port as Node);
    w.fail(at, childPath(path, nodes.syncPort ? 'sync_port' : 'port'), cfg.port, `must differ from ${childPath(path, nodes.syncPort ? 'port' : 'sync_port')}`);
  }
  cfg.gateway = gateway.map((g) => g.address);
  return { config: cfg, gateway };
}

/**
 * The checks against the rest of the file: a gateway address floats on the private side, so it
 * is no VIP, not this router's own private address and not one of local_addresses.
 */
export function finishHa(w: Walker, raw: RawHa, path: string, services: readonly ServiceSpec[], local: LocalAddresses): HaConfig {
  const vips = new Set(services.flatMap((s) => s.frontends.map((f) => f.vip)));
  raw.gateway.forEach(({ node, address }, i) => {
    const q = itemPath(childPath(path, 'gateway'), i);
    if (vips.has(address)) w.fail(node, q, address, 'is a VIP of a service: a gateway address must be another');
    if (address === raw.config.local.private) w.fail(node, q, address, `must differ from ${childPath(path, 'local.private')} (this router's own address)`);
    if (address === raw.config.peer.private) w.fail(node, q, address, `must differ from ${childPath(path, 'peer.private')} (the peer's own address)`);
    if (address === local.v4 || address === local.v6) w.fail(node, q, address, 'must differ from local_addresses (both float, each is one address)');
  });
  return raw.config;
}

function readAnnounce(w: Walker, node: Node, path: string, a: HaConfig['announce']): void {
  w.fields(node, path, {
    count: (n, p) => (a.count = w.int(n, p, 1, 20)),
    spacing_ms: (n, p) => (a.spacingMs = w.int(n, p, 0, 1000)),
    refresh_ms: (n, p) => {
      const v = w.int(n, p, 0, 3_600_000, 'must be 0 (no refresh) or an integer 1000..3600000');
      if (v !== 0 && v < 1000) w.fail(n, p, v, 'must be 0 (no refresh) or an integer 1000..3600000');
      a.refreshMs = v;
    },
  });
}

/** The key file's bytes: a regular file of HA_MIN_KEY_BYTES.. bytes only its owner may read. */
function readKey(w: Walker, node: Node, path: string, file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    w.fail(node, path, file, `cannot read the key file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) w.fail(node, path, file, 'must be a regular file');
    if ((st.mode & 0o077) !== 0) {
      w.fail(node, path, file, `must not be readable (nor writable) by group or others: mode is 0${(st.mode & 0o777).toString(8)}, chmod 600 it`);
    }
    if (st.size > HA_MAX_KEY_BYTES) w.fail(node, path, file, `the key file holds ${st.size} bytes: a key is at most ${HA_MAX_KEY_BYTES}`);
    const buf = new Uint8Array(HA_MAX_KEY_BYTES + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got < buf.length;) got += n = readSync(fd, buf, got, buf.length - got, null);
    if (got > HA_MAX_KEY_BYTES) w.fail(node, path, file, `the key file holds more than ${HA_MAX_KEY_BYTES} bytes: a key is at most that`);
    if (got < HA_MIN_KEY_BYTES) w.fail(node, path, file, `the key file holds ${got} bytes: the key must be at least ${HA_MIN_KEY_BYTES}`);
    // Memory of its own (not Buffer's shared pool): the loader thread's structured clone copies
    // a view's whole ArrayBuffer, and the scratch buffer is wiped below.
    const key = Buffer.alloc(got);
    key.set(buf.subarray(0, got));
    buf.fill(0);
    return key;
  } finally {
    closeSync(fd);
  }
}
