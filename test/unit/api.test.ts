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
import {
  type ControlApi,
  type RealSpec,
  type ServiceKey,
  type ServiceStatus,
  realId,
  serviceId,
} from '../../src/model/types.js';
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
import { parseServiceString } from '../../src/api/service-string.js';
import { ERROR_CODE_METADATA_KEY, errorToStatus } from '../../src/api/status.js';
import { formatDrops, formatServiceTable, toJson } from '../../src/api/table.js';
import { checkIPv4, checkPort, checkWeight, parseDecimal } from '../../src/api/validate.js';
import type { AddRealRequest } from '../../src/api/wire.js';

const U64_MAX = 2n ** 64n - 1n;
const zero = () => ({ packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n });

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

const goodAdd = (): AddRealRequest => ({
  service: { vip: '203.0.113.100', port: 80, protocol: 'PROTOCOL_TCP' },
  real: { address: '10.77.0.14', port: 8080, weight: 3, method: 'FORWARD_METHOD_NAT' },
});

describe('validate', () => {
  it('accepts strict dotted IPv4 only', () => {
    assert.equal(checkIPv4('a', '10.77.0.1'), '10.77.0.1');
    assert.equal(checkIPv4('a', '255.255.255.255'), '255.255.255.255');
    for (const bad of ['10.77.0', '010.0.0.1', '256.0.0.1', ' 10.0.0.1', '10.0.0.1\n', '0x0a.0.0.1', '', 'a.b.c.d']) {
      throwsField(() => checkIPv4('real.address', bad), 'real.address', JSON.stringify(bad));
    }
    throwsField(() => checkIPv4('vip', 167772161), 'vip', '167772161');
  });

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
      real: { address: '10.77.0.14', port: 8080, weight: 3, method: 'nat' },
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
      ['service.port', (r) => (r.service!.port = 0), '0'],
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
    throwsField(() => removeRealFromWire({ service, address: '10.77.0.14', port: 0 }), 'port', '0');
  });
});

describe('convert: responses', () => {
  const status: ServiceStatus = {
    vip: '203.0.113.100',
    port: 80,
    protocol: 'tcp',
    scheduler: 'wrr',
    counters: { packets_in: U64_MAX, bytes_in: 2n ** 53n + 1n, packets_out: 1n, bytes_out: 2n, conns: 3n },
    reals: [{ address: '10.77.0.11', port: 80, weight: 0, method: 'nat', counters: zero() }],
  };

  it('sends bigint counters as exact decimal strings and maps enums', () => {
    const w = serviceStatusToWire(status);
    assert.equal(w.counters!.packets_in, '18446744073709551615');
    assert.equal(w.counters!.bytes_in, '9007199254740993');
    assert.deepEqual(w.key, { vip: '203.0.113.100', port: 80, protocol: 'PROTOCOL_TCP' });
    assert.equal(w.scheduler, 'SCHEDULER_WRR');
    assert.deepEqual(w.reals[0]!.real, { address: '10.77.0.11', port: 80, weight: 0, method: 'FORWARD_METHOD_NAT' });
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
  it('renders an ipvsadm -Ln style listing with aligned columns', () => {
    const services: ServiceStatus[] = [
      {
        vip: '203.0.113.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        counters: { packets_in: 10n, bytes_in: 900n, packets_out: 8n, bytes_out: 4000n, conns: 3n },
        reals: [
          { address: '10.77.0.11', port: 80, weight: 1, method: 'nat', counters: zero() },
          { address: '10.77.0.112', port: 8080, weight: 100, method: 'nat', counters: zero() },
        ],
      },
    ];
    assert.equal(
      formatServiceTable(services),
      'TCP  203.0.113.100:80 rr  conns=3 pkts_in=10 bytes_in=900 pkts_out=8 bytes_out=4000\n' +
        '  -> 10.77.0.11:80     nat  weight 1    conns=0 pkts_in=0 bytes_in=0 pkts_out=0 bytes_out=0\n' +
        '  -> 10.77.0.112:8080  nat  weight 100  conns=0 pkts_in=0 bytes_in=0 pkts_out=0 bytes_out=0\n',
    );
    services.push({ vip: '10.0.0.1', port: 53, protocol: 'udp', scheduler: 'wrr', counters: zero(), reals: [] });
    assert.deepEqual(formatServiceTable(services).split('\n').filter((l) => !l.startsWith('  ->')), [
      'TCP  203.0.113.100:80 rr   conns=3 pkts_in=10 bytes_in=900 pkts_out=8 bytes_out=4000',
      'UDP  10.0.0.1:53      wrr  conns=0 pkts_in=0 bytes_in=0 pkts_out=0 bytes_out=0',
      '',
    ]);
    assert.equal(formatServiceTable([]), '(no services)\n');
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

/** A ControlApi kept in memory, counting calls so tests can prove validation came first. */
class MemoryApi implements ControlApi {
  calls = { listServices: 0, addReal: 0, removeReal: 0, drops: 0 };
  services: ServiceStatus[] = [
    {
      vip: '203.0.113.100',
      port: 80,
      protocol: 'tcp',
      scheduler: 'rr',
      counters: { ...zero(), packets_in: U64_MAX },
      reals: [{ address: '10.77.0.11', port: 80, weight: 1, method: 'nat', counters: { ...zero(), conns: 7n } }],
    },
  ];

  private find(svc: ServiceKey): ServiceStatus {
    const s = this.services.find((x) => serviceId(x) === serviceId(svc));
    if (!s) throw new NotFoundError('service', serviceId(svc));
    return s;
  }

  async listServices(): Promise<ServiceStatus[]> {
    this.calls.listServices++;
    return structuredClone(this.services);
  }

  async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
    this.calls.addReal++;
    const s = this.find(svc);
    const existing = s.reals.find((r) => realId(r) === realId(real));
    if (existing) Object.assign(existing, { weight: real.weight, method: real.method });
    else s.reals.push({ ...real, counters: zero() });
  }

  async removeReal(svc: ServiceKey, address: string, port: number): Promise<void> {
    this.calls.removeReal++;
    const s = this.find(svc);
    const i = s.reals.findIndex((r) => realId(r) === realId({ address, port }));
    if (i < 0) throw new NotFoundError('real', `${realId({ address, port })} in ${serviceId(svc)}`);
    s.reals.splice(i, 1);
  }

  async drops(): Promise<Record<string, bigint>> {
    this.calls.drops++;
    return { no_real: U64_MAX, bad_header: 0n };
  }
}

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

  it('rejects an invalid address with INVALID_ARGUMENT naming field and value, without calling the api', async () => {
    const before = api.calls.addReal;
    await rejectsWith(
      client.addReal(SVC, { address: '10.77.0', port: 80, weight: 1, method: 'nat' }),
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

    await client.addReal(SVC, { address: '10.77.0.14', port: 80, weight: 2, method: 'nat' });
    await client.addReal(SVC, { address: '10.77.0.11', port: 80, weight: 0, method: 'nat' }); // update to quiescent
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
      client.addReal({ ...SVC, port: 81 }, { address: '10.77.0.14', port: 80, weight: 1, method: 'nat' }),
      grpc.status.NOT_FOUND,
      'E_NOT_FOUND',
      'tcp/203.0.113.100:81',
    );
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
      assert.equal((await client.listServices()).length, 1);
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

const XLVSCTL = new URL('../../src/cli/xlvsctl.js', import.meta.url).pathname;

function xlvsctl(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [XLVSCTL, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

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
    assert.match(table.stdout, /^TCP {2}203\.0\.113\.100:80 rr {2}conns=0 pkts_in=18446744073709551615 /);
    assert.match(table.stdout, /\n {2}-> 10\.77\.0\.11:80 {2}nat {2}weight 1 {2}conns=7 /);

    const json = await xlvsctl(['list', '--json'], { XLVS_SOCKET: address });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { counters: { packets_in: string } }[];
    assert.equal(parsed[0]!.counters.packets_in, '18446744073709551615');
  });

  it('adds, re-weights and removes a real', async () => {
    const svc = ['--socket', address, '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.14'];
    let r = await xlvsctl(['real', 'add', ...svc, '--weight', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.services[0]!.reals.at(-1), { address: '10.77.0.14', port: 80, weight: 5, method: 'nat', counters: zero() });

    r = await xlvsctl(['real', 'set-weight', ...svc, '--weight', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.services[0]!.reals.at(-1)!.weight, 0);

    r = await xlvsctl(['real', 'remove', ...svc, '--port', '80']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.services[0]!.reals.length, 1);
  });

  it('exits 2 naming option and value for bad input, without contacting the daemon', async () => {
    const before = { ...api.calls };
    const cases: [string[], RegExp][] = [
      [['real', 'add', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0'], /--address: .*"10\.77\.0"/],
      [['real', 'add', '--service', 'tcp/203.0.113.100', '--address', '10.77.0.1'], /--service: .*"tcp\/203\.0\.113\.100"/],
      [['real', 'add', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1', '--weight', '1e3'], /--weight: .*"1e3"/],
      [['real', 'add', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1', '--method', 'dr'], /--method: .*"dr"/],
      [['real', 'remove', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1', '--weight', '1'], /--weight: does not apply/],
      [['real', 'set-weight', '--service', 'tcp/203.0.113.100:80', '--address', '10.77.0.1'], /--weight: is required/],
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
    const r = await xlvsctl(['--socket', address, 'real', 'remove', '--service', 'tcp/203.0.113.100:80', '--address', '10.9.9.9']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'xlvsctl: real 10.9.9.9:80 in tcp/203.0.113.100:80 not found\n');

    const down = await xlvsctl(['--socket', `unix:${join(dir, 'nope.sock')}`, 'drops']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach xlvsd at unix:/);
  });

  it('prints drops', async () => {
    const r = await xlvsctl(['--socket', address, 'drops']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bad_header  0\nno_real     18446744073709551615\n');
  });
});
