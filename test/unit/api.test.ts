// SPDX-License-Identifier: Apache-2.0
// The gRPC API: pure validation/conversion/formatting, then the real server and client over a
// unix socket in a temp dir, backed by an in-memory ControlApi (no kernel involved).

import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { BpfError, CapacityError, InvalidArgumentError, NotFoundError } from '../../src/errors.js';
import { MAX_REALS_PER_SERVICE, SCHEDULERS, type ServiceKey, type ServiceStatus, realId } from '../../src/model/types.js';
import { ApiCallError, connectApi, type ApiClient } from '../../src/api/client.js';
import {
  addRealFromWire,
  dropsFromWire,
  dropsToWire,
  removeRealFromWire,
  serviceStatusFromWire,
  serviceStatusToWire,
  uint64FromWire,
} from '../../src/api/convert.js';
import { parseListenAddress } from '../../src/api/listen.js';
import { loadXlvsProto } from '../../src/api/proto.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { parseRealString, parseServiceString } from '../../src/api/service-string.js';
import { ERROR_CODE_METADATA_KEY, errorToStatus } from '../../src/api/status.js';
import { formatDrops, formatServiceTable, toJson } from '../../src/api/table.js';
import { checkPort, checkWeight, parseDecimal } from '../../src/api/validate.js';
import type { Received } from '../../src/api/received.js';
import type { AddRealRequest__Output } from '../../src/gen/proto/xlvs/v1/AddRealRequest.js';
import type { HealthEvent } from '../../src/health/report.js';
import { MemoryApi, U64_MAX, listed, service, spec } from './memory-api.js';
import { xlvsctl } from './xlvsctl-run.js';

/** Asserts `f` throws InvalidArgumentError whose message names `field` and contains `got`. */
function throwsField(f: () => unknown, field: string, got: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    assert.ok(err.message.includes(got), `${err.message} should include ${got}`);
    return true;
  });
}

/** An AddReal request as the server receives it (an unknown enum number included). */
type AddRealRequest = Received<AddRealRequest__Output>;

const goodAdd = (): AddRealRequest => ({
  service: { vip: '203.0.113.100', port: 80, protocol: 'PROTOCOL_TCP' },
  real: { address: '10.77.0.14', port: 8080, weight: 3, method: 'FORWARD_METHOD_NAT', upper_threshold: 0, lower_threshold: 0 },
});

describe('validate', () => {
  it('range-checks ports and weights as integers', () => {
    assert.equal(checkPort('p', 1), 1);
    assert.equal(checkPort('p', 65535), 65535);
    for (const bad of [0, 65536, -1, 1.5, NaN, '80']) throwsField(() => checkPort('port', bad), 'port', 'must be an integer 1..65535');
    assert.equal(checkWeight('w', 0), 0);
    assert.equal(checkWeight('w', 65535), 65535);
    throwsField(() => checkWeight('weight', 65536), 'weight', '65536');
  });

  it('parses command-line decimals without Number() leniency', () => {
    assert.equal(parseDecimal('--port', '80', checkPort), 80);
    for (const bad of ['', '1e3', ' 8', '0x50', '+8', '8.0', '-1']) {
      throwsField(() => parseDecimal('--port', bad, checkPort), '--port', JSON.stringify(bad));
    }
    throwsField(() => parseDecimal('--weight', '70000', checkWeight), '--weight', '70000');
  });
});

describe('convert: requests', () => {
  it('converts a valid AddReal request', () => {
    assert.deepEqual(addRealFromWire(goodAdd()), {
      service: { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
      real: spec('10.77.0.14', 8080, { weight: 3 }),
    });
  });

  it('accepts weight 0 when it is explicitly present', () => {
    const req = goodAdd();
    req.real!.weight = 0;
    assert.equal(addRealFromWire(req).real.weight, 0);
  });

  it('names the field path and value of every kind of bad AddReal input', () => {
    const cases: [string, (r: AddRealRequest) => void, string][] = [
      ['service', (r) => (r.service = null), 'null'],
      ['real', (r) => (r.real = null), 'null'],
      ['service.vip', (r) => (r.service!.vip = '203.0.113'), '"203.0.113"'],
      ['service.port', (r) => (r.service!.port = 65536), '65536'],
      ['service.protocol', (r) => (r.service!.protocol = 'PROTOCOL_UNSPECIFIED'), '"PROTOCOL_UNSPECIFIED"'],
      ['service.protocol', (r) => (r.service!.protocol = 7), '7'],
      ['real.address', (r) => (r.real!.address = '10.77.0.256'), '"10.77.0.256"'],
      ['real.port', (r) => (r.real!.port = 70000), '70000'],
      ['real.weight', (r) => delete r.real!.weight, 'is required'],
      ['real.weight', (r) => (r.real!.weight = 65536), '65536'],
      ['real.method', (r) => (r.real!.method = 'FORWARD_METHOD_UNSPECIFIED'), '"FORWARD_METHOD_UNSPECIFIED"'],
    ];
    for (const [field, spoil, got] of cases) {
      const req = goodAdd();
      spoil(req);
      throwsField(() => addRealFromWire(req), field, got);
    }
  });

  it('converts and checks RemoveReal', () => {
    const service = { vip: '203.0.113.100', port: 80, protocol: 'PROTOCOL_UDP' as const };
    assert.deepEqual(removeRealFromWire({ service, address: '10.77.0.14', port: 53 }), {
      service: { vip: '203.0.113.100', port: 80, protocol: 'udp' },
      address: '10.77.0.14',
      port: 53,
    });
    throwsField(() => removeRealFromWire({ service, address: 'x', port: 53 }), 'address', '"x"');
    throwsField(() => removeRealFromWire({ service, address: '10.77.0.14', port: 65536 }), 'port', '65536');
    // Port 0 names a real that keeps the client's port; a v6 address comes back canonical.
    assert.equal(removeRealFromWire({ service, address: '10.77.0.14', port: 0 }).port, 0);
    assert.equal(removeRealFromWire({ service, address: 'FD00::0011', port: 53 }).address, 'fd00::11');
  });
});

describe('convert: responses', () => {
  const status: ServiceStatus = service('203.0.113.100', 80, 'tcp', {
    scheduler: 'wrr',
    counters: { packets_in: U64_MAX, bytes_in: 2n ** 53n + 1n, packets_out: 1n, bytes_out: 2n, conns: 3n },
    reals: [listed('10.77.0.11', 80, { weight: 0 })],
  });

  it('sends bigint counters as exact decimal strings and maps enums', () => {
    const w = serviceStatusToWire(status);
    assert.equal(w.counters!.packets_in, '18446744073709551615');
    assert.equal(w.counters!.bytes_in, '9007199254740993');
    assert.deepEqual(w.key, { vip: '203.0.113.100', port: 80, protocol: 'PROTOCOL_TCP' });
    assert.equal(w.scheduler, 'SCHEDULER_WRR');
    assert.deepEqual(w.reals[0]!.real, {
      address: '10.77.0.11', port: 80, weight: 0, method: 'FORWARD_METHOD_NAT', upper_threshold: 0, lower_threshold: 0,
    });
  });

  it('round-trips ServiceStatus and drops through the wire form', () => {
    assert.deepEqual(serviceStatusFromWire(serviceStatusToWire(status), 'services[0]'), status);
    const drops = { no_real: U64_MAX, bad_header: 0n };
    assert.deepEqual(dropsFromWire(dropsToWire(drops)), drops);
  });

  it('rejects malformed counters instead of reading them as 0', () => {
    throwsField(() => uint64FromWire('c', ''), 'c', '""');
    throwsField(() => uint64FromWire('c', '-1'), 'c', '"-1"');
    const w = serviceStatusToWire(status);
    w.scheduler = 'SCHEDULER_UNSPECIFIED';
    throwsField(() => serviceStatusFromWire(w, 'services[0]'), 'services[0].scheduler', 'SCHEDULER_UNSPECIFIED');
  });
});

describe('convert: issue-3 fields', () => {
  it('takes method and thresholds on AddReal, IPv6 in canonical form, port 0 and port-all services', () => {
    const req = goodAdd();
    req.service = { vip: '2001:DB8::1', port: 0, protocol: 'PROTOCOL_TCP' };
    req.real = { address: 'fd00:0::11', port: 0, weight: 2, method: 'FORWARD_METHOD_TUN', upper_threshold: 100, lower_threshold: 75 };
    assert.deepEqual(addRealFromWire(req), {
      service: { vip: '2001:db8::1', port: 0, protocol: 'tcp' },
      real: spec('fd00::11', 0, { weight: 2, method: 'tun', upper_threshold: 100, lower_threshold: 75 }),
    });
    for (const [wire, model] of [['FORWARD_METHOD_NAT', 'nat'], ['FORWARD_METHOD_DR', 'dr'], ['FORWARD_METHOD_FULLNAT', 'fullnat']] as const) {
      const r = goodAdd();
      r.real!.method = wire;
      assert.equal(addRealFromWire(r).real.method, model);
    }
  });

  it('names field and value of bad methods, thresholds and families', () => {
    const cases: [string, (r: AddRealRequest) => void, string][] = [
      ['real.method', (r) => (r.real!.method = 9), 'must be one of FORWARD_METHOD_NAT, FORWARD_METHOD_DR, FORWARD_METHOD_TUN, FORWARD_METHOD_FULLNAT (got 9)'],
      ['real.upper_threshold', (r) => (r.real!.upper_threshold = -1), '(got -1)'],
      ['real.lower_threshold', (r) => (r.real!.lower_threshold = 1.5), '(got 1.5)'],
      ['real.lower_threshold', (r) => Object.assign(r.real!, { upper_threshold: 10, lower_threshold: 11 }), 'must be <= upper_threshold (10) (got 11)'],
      ['real.lower_threshold', (r) => (r.real!.lower_threshold = 3), 'needs an upper_threshold'],
      ['real.address', (r) => (r.real!.address = 'fd00::11'), "must be an IPv4 address like the service's VIP (got \"fd00::11\")"],
      ['real.address', (r) => (r.real!.address = 'fe80::1%eth0'), '"fe80::1%eth0"'],
      ['real.address', (r) => (r.real!.address = '::ffff:10.0.0.1'), 'IPv4-mapped'],
      ['service.vip', (r) => (r.service!.vip = '2001:db8::1::2'), '"2001:db8::1::2"'],
    ];
    for (const [field, spoil, got] of cases) {
      const req = goodAdd();
      spoil(req);
      throwsField(() => addRealFromWire(req), field, got);
    }
  });

  it('round-trips a v6 port group with persistence, hash options, table size and connection counts', () => {
    const status = service('2001:db8::1', 80, 'tcp', {
      family: 6,
      frontends: [
        { vip: '2001:db8::1', port: 80, protocol: 'tcp' },
        { vip: '2001:db8::2', port: 0, protocol: 'udp' },
      ],
      scheduler: 'mh',
      persistence: { timeout: 300, netmask: 64 },
      hash: { fallback: true, port: true },
      mh_table_size: 251,
      reals: [listed('fd00::11', 0, { method: 'dr', upper_threshold: 9, lower_threshold: 3, active_conns: 2 ** 40, inactive_conns: 7 })],
    });
    const w = serviceStatusToWire(status);
    assert.equal(w.family, 'ADDRESS_FAMILY_IPV6');
    assert.equal(w.scheduler, 'SCHEDULER_MH');
    assert.deepEqual(w.persistence, { timeout: 300, netmask: 64 });
    assert.equal(w.reals[0]!.active_conns, '1099511627776');
    assert.deepEqual(serviceStatusFromWire(w, 's'), status);
    // Not persistent: null on the wire, absent in the model.
    const plain = service('10.0.0.1', 53, 'udp');
    const pw = serviceStatusToWire(plain);
    assert.equal(pw.persistence, null);
    assert.deepEqual(serviceStatusFromWire(pw, 's'), plain);
    assert.equal('persistence' in serviceStatusFromWire(pw, 's'), false);
  });

  it('every scheduler maps to the wire and back', () => {
    for (const scheduler of SCHEDULERS) {
      const st = service('10.0.0.1', 80, 'tcp', { scheduler });
      assert.equal(serviceStatusFromWire(serviceStatusToWire(st), 's').scheduler, scheduler);
    }
  });

  it('rejects malformed issue-3 response fields with their path', () => {
    const good = () => serviceStatusToWire(service('10.0.0.1', 80, 'tcp', { reals: [listed('10.0.0.2', 80)] }));
    const cases: [string, (w: ReturnType<typeof good>) => void, string][] = [
      ['s.family', (w) => (w.family = 'ADDRESS_FAMILY_UNSPECIFIED'), '"ADDRESS_FAMILY_UNSPECIFIED"'],
      ['s.frontends', (w) => (w.frontends = []), 'must hold at least the key'],
      ['s.frontends[0].port', (w) => (w.frontends[0]!.port = 70000), '70000'],
      ['s.persistence.netmask', (w) => (w.persistence = { timeout: 300, netmask: 33 }), '33'],
      ['s.mh_table_size', (w) => (w.mh_table_size = 100), '100'],
      ['s.hash', (w) => (w.hash = null), 'null'],
      ['s.reals[0].active_conns', (w) => (w.reals[0]!.active_conns = '-1'), '"-1"'],
      ['s.reals[0].inactive_conns', (w) => (w.reals[0]!.inactive_conns = String(2n ** 60n)), 'beyond 2^53'],
    ];
    for (const [field, spoil, got] of cases) {
      const w = good();
      spoil(w);
      throwsField(() => serviceStatusFromWire(w, 's'), field, got);
    }
  });

  it('parses v6 and port-all service strings and real strings', () => {
    assert.deepEqual(parseServiceString('tcp/[2001:DB8::1]:443'), { protocol: 'tcp', vip: '2001:db8::1', port: 443 });
    assert.deepEqual(parseServiceString('udp/203.0.113.100:*'), { protocol: 'udp', vip: '203.0.113.100', port: 0 });
    throwsField(() => parseServiceString('tcp/2001:db8::1:80'), '--service', 'PROTOCOL/VIP:PORT');
    assert.deepEqual(parseRealString('[fd00::11]:80', 'r'), { address: 'fd00::11', port: 80 });
    assert.deepEqual(parseRealString('fd00::11', 'r'), { address: 'fd00::11', port: undefined });
    assert.deepEqual(parseRealString('10.0.0.1:0', 'r'), { address: '10.0.0.1', port: 0 });
    throwsField(() => parseRealString('[fd00::11]80', 'r'), 'r', 'ADDRESS[:PORT]');
  });
});

describe('errorToStatus', () => {
  it('maps error classes to gRPC codes and keeps the xlvs code', () => {
    const cases: [unknown, grpc.status, string][] = [
      [new InvalidArgumentError('real.port', 0, 'bad'), grpc.status.INVALID_ARGUMENT, 'E_INVALID_ARGUMENT'],
      [new NotFoundError('service', 'tcp/1.2.3.4:80'), grpc.status.NOT_FOUND, 'E_NOT_FOUND'],
      [new CapacityError('reals', 256), grpc.status.RESOURCE_EXHAUSTED, 'E_CAPACITY'],
      [new BpfError('bpf_map_update_elem', 7), grpc.status.INTERNAL, 'E_BPF'],
      [new TypeError('oops'), grpc.status.INTERNAL, 'E_INTERNAL'],
    ];
    for (const [err, code, xlvsCode] of cases) {
      const m = errorToStatus(err);
      assert.equal(m.code, code);
      assert.equal(m.xlvsCode, xlvsCode);
      assert.ok(m.details.includes((err as Error).message));
    }
  });
});

describe('parseServiceString', () => {
  it('parses PROTOCOL/VIP:PORT, protocol case-insensitively', () => {
    assert.deepEqual(parseServiceString('tcp/203.0.113.100:80'), { protocol: 'tcp', vip: '203.0.113.100', port: 80 });
    assert.deepEqual(parseServiceString('UDP/10.0.0.1:53'), { protocol: 'udp', vip: '10.0.0.1', port: 53 });
  });

  it('names the option and the wrong part', () => {
    throwsField(() => parseServiceString('203.0.113.100:80'), '--service', 'PROTOCOL/VIP:PORT');
    throwsField(() => parseServiceString('tcp/203.0.113.100'), '--service', '"tcp/203.0.113.100"');
    throwsField(() => parseServiceString('/1.2.3.4:80'), '--service', 'PROTOCOL/VIP:PORT');
    throwsField(() => parseServiceString('sctp/1.2.3.4:80'), '--service protocol', '"sctp"');
    throwsField(() => parseServiceString('tcp/1.2.3:80'), '--service VIP', '"1.2.3"');
    throwsField(() => parseServiceString('tcp/1.2.3.4:0'), '--service port', '0');
    throwsField(() => parseServiceString('tcp/1.2.3.4:http'), '--service port', '"http"');
    throwsField(() => parseServiceString('tcp:1.2.3.4', 'service'), 'service', '"tcp:1.2.3.4"');
  });
});

describe('table', () => {
  const web = (): ServiceStatus =>
    service('203.0.113.100', 80, 'tcp', {
      scheduler: 'rr',
      counters: { packets_in: 10n, bytes_in: 900n, packets_out: 8n, bytes_out: 4000n, conns: 3n },
      reals: [
        listed('10.77.0.11', 80, { active_conns: 12, inactive_conns: 3 }),
        listed('10.77.0.112', 8080, { weight: 100, method: 'dr', upper_threshold: 500, lower_threshold: 400 }),
      ],
    });

  it('renders an ipvsadm -Ln style listing: header, service, reals with Forward/Weight/ActiveConn/InActConn', () => {
    assert.equal(
      formatServiceTable([web()]),
      'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health EffWeight\n' +
        'TCP  203.0.113.100:80 rr\n' +
        '  -> 10.77.0.11:80                Masq    1      12         3         -      1\n' +
        '  -> 10.77.0.112:8080             Route   100    0          0         -      100\n',
    );
    assert.equal(formatServiceTable([]), 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health EffWeight\n');
  });

  it('lists a port group under one service, v6 in brackets, persistence and hash flags like ipvsadm', () => {
    const group = service('2001:db8::1', 80, 'tcp', {
      family: 6,
      frontends: [
        { vip: '2001:db8::1', port: 80, protocol: 'tcp' },
        { vip: '2001:db8::1', port: 443, protocol: 'tcp' },
        { vip: '2001:db8::2', port: 0, protocol: 'udp' },
      ],
      scheduler: 'mh',
      hash: { fallback: true, port: true },
      mh_table_size: 251,
      persistence: { timeout: 300, netmask: 64 },
      reals: [listed('fd00:77::11', 0, { method: 'tun' }), listed('fd00:77::1234:5678:9abc', 0, { method: 'fullnat', weight: 7 })],
    });
    const sh = service('203.0.113.100', 0, 'tcp', { scheduler: 'sh', persistence: { timeout: 60, netmask: 32 } });
    const wlc = service('203.0.113.100', 53, 'udp', { persistence: { timeout: 300, netmask: 24 }, reals: [listed('10.77.0.11', 53)] });
    assert.equal(
      formatServiceTable([group, sh, wlc]),
      'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health EffWeight\n' +
        'TCP  [2001:db8::1]:80 mh (mh-fallback,mh-port) table 251 persistent 300 mask 64\n' +
        '  +  TCP  [2001:db8::1]:443\n' +
        '  +  UDP  [2001:db8::2]:*\n' +
        '  -> [fd00:77::11]:0              Tunnel  1      0          0         -      1\n' +
        '  -> [fd00:77::1234:5678:9abc]:0  FullNat 7      0          0         -      7\n' +
        'TCP  203.0.113.100:* sh persistent 60\n' +
        'UDP  203.0.113.100:53 wlc persistent 300 mask 24\n' +
        '  -> 10.77.0.11:53                Masq    1      0          0         -      1\n',
    );
  });

  it('renders the thresholds and stats views', () => {
    assert.equal(
      formatServiceTable([web()], 'thresholds'),
      'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Uthreshold Lthreshold ActiveConn InActConn\n' +
        'TCP  203.0.113.100:80 rr\n' +
        '  -> 10.77.0.11:80                0          0          12         3\n' +
        '  -> 10.77.0.112:8080             500        400        0          0\n',
    );
    const stats = web();
    stats.reals[0]!.counters = { packets_in: 6n, bytes_in: 600n, packets_out: 5n, bytes_out: 3000n, conns: 2n };
    assert.equal(
      formatServiceTable([stats], 'stats'),
      'Prot LocalAddress:Port            Conns InPkts OutPkts InBytes OutBytes\n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  203.0.113.100:80                 3     10       8     900     4000\n' +
        '  -> 10.77.0.11:80                    2      6       5     600     3000\n' +
        '  -> 10.77.0.112:8080                 0      0       0       0        0\n',
    );
  });

  it('renders drops sorted and JSON with bigint as strings', () => {
    assert.equal(formatDrops({ no_real: 5n, bad_header: 12n }), 'bad_header  12\nno_real     5\n');
    assert.equal(toJson({ n: U64_MAX }), '{\n  "n": "18446744073709551615"\n}\n');
  });
});

describe('parseListenAddress', () => {
  it('accepts the unix and host:port forms grpc-js resolves', () => {
    assert.deepEqual(parseListenAddress('unix:/run/xlvs/xlvsd.sock'), { kind: 'unix', path: '/run/xlvs/xlvsd.sock' });
    assert.deepEqual(parseListenAddress('unix:///run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
    assert.deepEqual(parseListenAddress('127.0.0.1:50051'), { kind: 'tcp', hostPort: '127.0.0.1:50051' });
    assert.deepEqual(parseListenAddress('[::1]:0'), { kind: 'tcp', hostPort: '[::1]:0' });
    for (const bad of ['unix:', 'unix://host/x.sock', '127.0.0.1', 'http://x:1']) {
      throwsField(() => parseListenAddress(bad), 'listen', JSON.stringify(bad));
    }
  });
});

// ---- end to end: server + client over a unix socket ----

/** A pino logger whose JSON lines land in `lines`, so tests can check what was logged. */
function capturingLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

async function rejectsWith(p: Promise<unknown>, grpcCode: grpc.status, code: string, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiCallError, `expected ApiCallError, got ${String(err)}`);
    assert.equal(err.grpcCode, grpcCode, err.message);
    assert.equal(err.code, code);
    for (const part of parts) assert.ok(err.message.includes(part), `${err.message} should include ${part}`);
    return true;
  });
}

const SVC: ServiceKey = { vip: '203.0.113.100', port: 80, protocol: 'tcp' };

describe('api server over a unix socket', () => {
  let dir: string;
  let socketPath: string;
  let address: string;
  let api: MemoryApi;
  let logged: Record<string, unknown>[];
  let server: ApiServer;
  let client: ApiClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-api-'));
    socketPath = join(dir, 'run', 'xlvsd.sock'); // parent does not exist yet: the server creates it
    address = `unix:${socketPath}`;
    api = new MemoryApi();
    const { log, lines } = capturingLogger();
    logged = lines;
    server = await startApiServer(api, address, log);
    client = await connectApi(address, { connectTimeoutMs: 2000 });
  });

  after(async () => {
    client?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ListServices of 10,000 services × 8 reals (over grpc-js\'s default 4 MiB) arrives whole', async () => {
    const saved = api.services;
    try {
      api.services = Array.from({ length: 10_000 }, (_, i) => service(`10.${i >> 8}.${i & 255}.1`, 80, 'tcp', {
        reals: Array.from({ length: 8 }, (_, j) => listed(`10.200.${i & 255}.${j + 1}`, 8080)),
      }));
      const got = await client.listServices();
      assert.equal(got.length, 10_000);
      assert.deepEqual(got[9_999], api.services[9_999]);
    } finally {
      api.services = saved;
    }
  });

  it('ListHealth round-trips every field of checks, services and totals', async () => {
    assert.deepEqual(await client.listHealth(), api.health);
  });

  it('GetCapabilities round-trips the report, an unavailable capability and the SYN checks\' problem included', async () => {
    assert.deepEqual(await client.getCapabilities(), api.capabilities);
  });

  it('WatchHealth streams events as they happen and stops when cancelled', async () => {
    const got: HealthEvent[] = [];
    const errors: Error[] = [];
    const cancel = client.watchHealth((e) => got.push(e), (e) => errors.push(e));
    const deadline = Date.now() + 5000;
    while (api.watchers.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(api.watchers.size, 1, 'the server subscribed the stream');
    const event: HealthEvent = {
      at: 1_795_000_002_000, service: 'tcp/203.0.113.100:80', service_key: { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
      real: '10.77.0.12:80', real_address: '10.77.0.12', real_port: 80, type: 'http', from: 'up', to: 'down',
      reason: 'status 503 not in 200-299', weight: undefined,
    };
    for (const w of api.watchers) w(event);
    for (const w of api.watchers) w({ ...event, from: 'down', to: 'up', reason: 'exit 7: weight 5', type: 'exec', weight: 5 });
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [event, { ...event, from: 'down', to: 'up', reason: 'exit 7: weight 5', type: 'exec', weight: 5 }]);
    cancel();
    while (api.watchers.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(api.watchers.size, 0, 'cancelling the stream unsubscribes it on the server');
    assert.deepEqual(errors, []);
  });

  it('rejects an invalid address with INVALID_ARGUMENT naming field and value, without calling the api', async () => {
    const before = api.calls.addReal;
    await rejectsWith(
      client.addReal(SVC, spec('10.77.0', 80, { weight: 1 })),
      grpc.status.INVALID_ARGUMENT,
      'E_INVALID_ARGUMENT',
      'real.address',
      '"10.77.0"',
    );
    assert.equal(api.calls.addReal, before);
    const entry = logged.find((l) => l.method === 'AddReal' && l.code === 'E_INVALID_ARGUMENT');
    assert.ok(entry, 'the rejected call is logged');
    assert.equal(entry.grpcCode, 'INVALID_ARGUMENT');
  });

  it('rejects a request without weight (raw client) rather than reading it as 0', async () => {
    const { Client } = loadXlvsProto();
    const raw = new Client(address, grpc.credentials.createInsecure());
    try {
      const req = goodAdd();
      delete req.real!.weight;
      const before = api.calls.addReal;
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        (raw.AddReal as (r: unknown, cb: (e: grpc.ServiceError | null) => void) => void)(req, (e) =>
          e ? resolve(e) : reject(new Error('AddReal without weight succeeded')),
        );
      });
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /^real\.weight: is required/);
      assert.deepEqual(err.metadata.get(ERROR_CODE_METADATA_KEY), ['E_INVALID_ARGUMENT']);
      assert.equal(api.calls.addReal, before);
    } finally {
      raw.close();
    }
  });

  it('round-trips list, add, update, remove and drops', async () => {
    const initial = await client.listServices();
    assert.deepEqual(initial, api.services);
    assert.equal(initial[0]!.counters.packets_in, U64_MAX);

    await client.addReal(SVC, spec('10.77.0.14', 80, { weight: 2 }));
    await client.addReal(SVC, spec('10.77.0.11', 80, { weight: 0 })); // update to quiescent
    let reals = (await client.listServices())[0]!.reals.map((r) => [realId(r), r.weight]);
    assert.deepEqual(reals, [
      ['10.77.0.11:80', 0],
      ['10.77.0.14:80', 2],
    ]);

    await client.removeReal(SVC, '10.77.0.14', 80);
    reals = (await client.listServices())[0]!.reals.map((r) => [realId(r), r.weight]);
    assert.deepEqual(reals, [['10.77.0.11:80', 0]]);

    assert.deepEqual(await client.drops(), { no_real: U64_MAX, bad_header: 0n });
  });

  it('passes NOT_FOUND through with the xlvs code', async () => {
    await rejectsWith(client.removeReal(SVC, '10.77.0.99', 80), grpc.status.NOT_FOUND, 'E_NOT_FOUND', '10.77.0.99:80');
    await rejectsWith(
      client.addReal({ ...SVC, port: 81 }, spec('10.77.0.14', 80, { weight: 1 })),
      grpc.status.NOT_FOUND,
      'E_NOT_FOUND',
      'tcp/203.0.113.100:81',
    );
  });

  it('answers a capacity limit as RESOURCE_EXHAUSTED with E_CAPACITY, changing nothing', async () => {
    const before = structuredClone(api.services);
    api.maxReals = api.services[0]!.reals.length;
    try {
      await rejectsWith(
        client.addReal(SVC, spec('10.77.0.99', 80, { weight: 1 })),
        grpc.status.RESOURCE_EXHAUSTED,
        'E_CAPACITY',
        'too many reals in service tcp/203.0.113.100:80',
      );
    } finally {
      api.maxReals = MAX_REALS_PER_SERVICE;
    }
    assert.deepEqual(api.services, before);
  });

  it('refuses to take over a socket another server is using', async () => {
    await assert.rejects(startApiServer(api, address, pino({ level: 'silent' })), {
      code: 'E_API_LISTEN',
      message: /in use/,
    });
    assert.ok((await stat(socketPath)).isSocket(), 'the live socket is left alone');
  });
});

describe('api server socket lifecycle', () => {
  it('replaces a stale socket left by a killed process, and removes its own on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xlvs-api-'));
    try {
      const path = join(dir, 'xlvsd.sock');
      // SIGKILL before exit means nobody unlinks the socket: exactly what a crashed daemon leaves.
      const child = spawn(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      await new Promise((resolve) => child.once('exit', resolve));
      assert.ok((await stat(path)).isSocket(), 'stale socket exists');

      const server = await startApiServer(new MemoryApi(), `unix:${path}`, pino({ level: 'silent' }));
      const client = await connectApi(`unix:${path}`, { connectTimeoutMs: 2000 });
      assert.equal((await client.listServices()).length, 2);
      client.close();
      await server.close();
      await assert.rejects(stat(path), { code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('listens on TCP and reports the port chosen for port 0', async () => {
    const server = await startApiServer(new MemoryApi(), '127.0.0.1:0', pino({ level: 'silent' }));
    try {
      assert.match(server.address, /^127\.0\.0\.1:[1-9][0-9]*$/);
      const client = await connectApi(server.address, { connectTimeoutMs: 2000 });
      assert.deepEqual(await client.drops(), { no_real: U64_MAX, bad_header: 0n });
      client.close();
    } finally {
      await server.close();
    }
  });

  it('reports an unreachable daemon as E_API_UNREACHABLE', async () => {
    await rejectsWith(
      connectApi('unix:/nonexistent/xlvsd.sock', { connectTimeoutMs: 200 }),
      grpc.status.UNAVAILABLE,
      'E_API_UNREACHABLE',
      'unix:/nonexistent/xlvsd.sock',
    );
  });
});

// ---- end to end: the xlvsctl binary against the server ----

describe('xlvsctl', () => {
  let dir: string;
  let address: string;
  let api: MemoryApi;
  let server: ApiServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-cli-'));
    address = `unix:${join(dir, 'xlvsd.sock')}`;
    api = new MemoryApi();
    server = await startApiServer(api, address, pino({ level: 'silent' }));
  });

  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists services as a table and as JSON', async () => {
    const table = await xlvsctl(['--socket', address, 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(
      table.stdout,
      'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health EffWeight\n' +
        'TCP  203.0.113.100:80 rr\n' +
        '  -> 10.77.0.11:80                Masq    1      2          5         -      1\n' +
        'TCP  [2001:db8::1]:80 mh (mh-fallback) persistent 300 mask 64\n' +
        '  +  TCP  [2001:db8::1]:443\n' +
        '  -> [fd00::11]:0                 Route   1      0          0         -      1\n',
    );
    const stats = await xlvsctl(['--socket', address, 'list', '--stats']);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /\nTCP {2}203\.0\.113\.100:80 +0 18446744073709551615 +0 +0 +0\n {2}-> 10\.77\.0\.11:80 +7 /);
    const limits = await xlvsctl(['--socket', address, 'list', '--thresholds']);
    assert.match(limits.stdout, /Uthreshold Lthreshold ActiveConn InActConn\n/);

    const json = await xlvsctl(['list', '--json'], { XLVS_SOCKET: address });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { counters: { packets_in: string }; frontends: unknown[]; persistence?: unknown }[];
    assert.equal(parsed[0]!.counters.packets_in, '18446744073709551615');
    assert.deepEqual(parsed[1]!.frontends.length, 2);
    assert.deepEqual(parsed[1]!.persistence, { timeout: 300, netmask: 64 });
  });

  it('adds, re-weights and removes a real (option form)', async () => {
    const svc = ['--socket', address, '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.14'];
    let r = await xlvsctl(['real', 'add', ...svc, '--weight', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.services[0]!.reals.at(-1), listed('10.77.0.14', 80, { weight: 5 }));

    r = await xlvsctl(['real', 'set-weight', ...svc, '--weight', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.services[0]!.reals.at(-1)!.weight, 0);

    r = await xlvsctl(['real', 'remove', ...svc, '--port', '80']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.services[0]!.reals.length, 1);
  });

  it('real add SERVICE ADDR:PORT with method and thresholds; set-weight keeps them; v6 and default ports', async () => {
    let r = await xlvsctl(['--socket', address, 'real', 'add', 'tcp/203.0.113.100:80', '10.77.0.15:8080', '--weight', '2', '--method', 'fullnat', '--upper', '100', '--lower', '50']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'real 10.77.0.15:8080 in tcp/203.0.113.100:80: fullnat, weight 2, upper 100 lower 50\n');
    assert.deepEqual(api.services[0]!.reals.at(-1), listed('10.77.0.15', 8080, { weight: 2, method: 'fullnat', upper_threshold: 100, lower_threshold: 50 }));

    // Without a port, set-weight finds the one real at that address and keeps method and thresholds.
    r = await xlvsctl(['--socket', address, 'real', 'set-weight', 'TCP/203.0.113.100:80', '10.77.0.15', '--weight', '9']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.services[0]!.reals.at(-1), listed('10.77.0.15', 8080, { weight: 9, method: 'fullnat', upper_threshold: 100, lower_threshold: 50 }));
    r = await xlvsctl(['--socket', address, 'real', 'remove', 'tcp/203.0.113.100:80', '10.77.0.15']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'real 10.77.0.15:8080 removed from tcp/203.0.113.100:80\n');

    // The v6 port group (80 and 443): a nat real without a port keeps the client's port (0),
    // the address is sent in canonical form.
    r = await xlvsctl(['--socket', address, 'real', 'add', 'tcp/[2001:db8::1]:80', '[FD00::0012]']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.services[1]!.reals.at(-1), listed('fd00::12', 0));
    r = await xlvsctl(['--socket', address, 'real', 'remove', 'tcp/[2001:db8::1]:80', '[fd00::12]:0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.services[1]!.reals.length, 1);
  });

  it('exits 2 naming option and value for bad input, without contacting the daemon', async () => {
    const before = { ...api.calls };
    const add = ['real', 'add', 'tcp/203.0.113.100:80'];
    const cases: [string[], RegExp][] = [
      [['real', 'add', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0'], /--address: .*"10\.77\.0"/],
      [['real', 'add', '--service', 'tcp/203.0.113.100', '--address', '10.77.0.1'], /--service: .*"tcp\/203\.0\.113\.100"/],
      [['real', 'add', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1', '--weight', '1e3'], /--weight: .*"1e3"/],
      [[...add, '10.77.0.1:80', '--method', 'dsr'], /--method: must be one of nat, dr, tun, fullnat \(got "dsr"\)/],
      [[...add, '10.77.0.1:80', '--upper', '4294967296'], /--upper: must be an integer 0\.\.4294967295 \(got 4294967296\)/],
      [[...add, '10.77.0.1:80', '--upper', '10', '--lower', '11'], /--lower: must be <= --upper \(10\) \(got 11\)/],
      [[...add, '10.77.0.1:80', '--lower', '5'], /--lower: needs an --upper/],
      [[...add, '10.77.0.1:99999'], /ADDR\[:PORT\] port: must be an integer 0\.\.65535 \(got 99999\)/],
      [[...add, '10.77.0.1:80:90'], /ADDR\[:PORT\] address: .*"10\.77\.0\.1:80:90"/],
      [[...add, '[fd00::1:80'], /ADDR\[:PORT\]: must be ADDRESS\[:PORT\]/],
      [['real', 'add', 'tcp/[2001:db8::1]', '[fd00::1]:80'], /SERVICE: must be PROTOCOL\/VIP:PORT/],
      [[...add], /arguments: must be SERVICE ADDR\[:PORT\]/],
      [[...add, '10.77.0.1:80', '--service', 'tcp/203.0.113.100:80'], /--service: not with SERVICE ADDR\[:PORT\] arguments/],
      [['real', 'remove', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1', '--weight', '1'], /--weight: does not apply/],
      [['real', 'set-weight', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1'], /--weight: is required/],
      [['list', '--stats', '--thresholds'], /--thresholds: not with --stats/],
      [['list', '--bogus'], /--bogus/],
      [['frobnicate'], /command: unknown/],
    ];
    for (const [args, message] of cases) {
      const r = await xlvsctl(['--socket', address, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.deepEqual(api.calls, before);
  });

  it('exits 1 with the server message for gRPC errors', async () => {
    let r = await xlvsctl(['--socket', address, 'real', 'remove', '--service', 'tcp/203.0.113.100:80', '--address', '10.9.9.9', '--port', '80']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'xlvsctl: real 10.9.9.9:80 in tcp/203.0.113.100:80 not found\n');
    r = await xlvsctl(['--socket', address, 'real', 'remove', 'tcp/203.0.113.100:80', '10.9.9.9']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'xlvsctl: real 10.9.9.9 in tcp/203.0.113.100:80 not found\n');
    // The family rule is checked by the server from the request alone.
    r = await xlvsctl(['--socket', address, 'real', 'add', 'tcp/203.0.113.100:80', '[fd00::9]:80']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'xlvsctl: real.address: must be an IPv4 address like the service\'s VIP (got "fd00::9")\n');

    const down = await xlvsctl(['--socket', `unix:${join(dir, 'nope.sock')}`, 'drops']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach xlvsd at unix:/);
  });

  it('lists overrides beside the file, as a table and as JSON, and clears them per service or all', async () => {
    const table = await xlvsctl(['--socket', address, 'overrides']);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(
      table.stdout,
      'SERVICE               REAL           API           FILE\n' +
        'tcp/203.0.113.100:80  10.77.0.11:80  weight 5 nat  weight 1 nat\n' +
        'tcp/[2001:db8::1]:80  [fd00::12]:0   removed       weight 1 dr\n',
    );
    const json = await xlvsctl(['--socket', address, 'overrides', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), [
      { op: 'set', service: 'tcp/203.0.113.100:80', real: spec('10.77.0.11', 80, { weight: 5 }), file: spec('10.77.0.11', 80) },
      { op: 'remove', service: 'tcp/[2001:db8::1]:80', address: 'fd00::12', port: 0, file: spec('fd00::12', 0, { method: 'dr' }) },
    ]);
    const bad = await xlvsctl(['--socket', address, 'overrides', 'clear', 'tcp/203.0.113.100']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /SERVICE: .*must be PROTOCOL\/VIP:PORT/);
    const extra = await xlvsctl(['--socket', address, 'overrides', 'clear', 'tcp/203.0.113.100:80', 'x']);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /at most one SERVICE/);
    assert.equal((await xlvsctl(['--socket', address, 'overrides', 'drop'])).code, 2);
    const one = await xlvsctl(['--socket', address, 'overrides', 'clear', 'tcp/[2001:db8::1]:80']);
    assert.equal(one.stdout, '1 override of tcp/[2001:db8::1]:80 cleared; the config file applies\n');
    assert.deepEqual(api.overrides.map((o) => o.override.service), ['tcp/203.0.113.100:80']);
    const all = await xlvsctl(['--socket', address, 'overrides', 'clear']);
    assert.equal(all.stdout, '1 override of every service cleared; the config file applies\n');
    assert.equal((await xlvsctl(['--socket', address, 'overrides'])).stdout, 'no API overrides: the config file applies as written\n');
  });

  it('prints drops', async () => {
    const r = await xlvsctl(['--socket', address, 'drops']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bad_header  0\nno_real     18446744073709551615\n');
  });
});
