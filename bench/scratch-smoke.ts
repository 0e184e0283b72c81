import { Lab } from '../src/lab/lab.js';
import { Dataplane } from '../src/dataplane/handles.js';
import { Reconciler } from '../src/dataplane/reconcile.js';
import { readDrops } from '../src/dataplane/stats.js';
import { inNetns } from '../src/bpf/test-run.js';
import pino from 'pino';
const log = pino({ level: 'info' }, pino.destination(2));
const lab = await Lab.create();
try {
  await lab.startRealServers();
  const dp = inNetns(lab.nsPath(lab.ns.router), () => Dataplane.load('build/xlvs.bpf.o', `/sys/fs/bpf/${lab.prefix}xlvs`, { public: 'pub0', private: 'priv0', mode: 'native' }, log));
  const rec = new Reconciler(dp.maps, log);
  const reals = ['10.77.0.11', '10.77.0.12', '10.77.0.13'].map((a) => ({ address: a, port: 80, weight: 1, method: 'nat' as const, upper_threshold: 0, lower_threshold: 0 }));
  rec.apply({ services: [{ vip: '203.0.113.100', port: 80, protocol: 'tcp', family: 4, frontends: [{ vip: '203.0.113.100', port: 80, protocol: 'tcp' }], scheduler: 'rr', hash: { fallback: false, port: false }, mh_table_size: 65537, reals }], timeouts: { tcp: 900, tcp_fin: 120, tcp_close: 10, udp: 300 }, hash_seed: 0, local: {} });
  const r = await lab.client('http', ['--host', '203.0.113.100', '--port', '80', '--count', '30']);
  console.log(JSON.stringify(r, (k, v) => typeof v === 'bigint' ? String(v) : v));
  console.log(readDrops(dp.maps));
  for (const [id, c] of dp.maps.realConns.entries()) if (c.active || c.inactive) console.log(id, c);
  console.log([...dp.maps.events.entries()].map(([k, v]) => [k, v.reduce((a, b) => a + b, 0n)]));
} finally { await lab.destroy(); }
