// SPDX-License-Identifier: Apache-2.0
// The gRPC server against what a client should not send (issue 13): a 100 KB address, bytes that
// are not the request, a field of the wrong wire type, a real past the service's capacity. The
// real server and client over a unix socket, an in-memory ControlApi behind them.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { ApiCallError, connectApi, type ApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { ERROR_CODE_METADATA_KEY } from '../../src/api/status.js';
import { checkRealFitsService } from '../../src/api/validate.js';
import { QUOTE_MAX_CHARS } from '../../src/errors.js';
import { MAX_REALS_PER_SERVICE, serviceId, type RealSpec, type ServiceKey } from '../../src/model/types.js';
import { MemoryApi, listed, spec } from './memory-api.js';

const SVC: ServiceKey = { vip: '203.0.113.100', port: 80, protocol: 'tcp' };

/** A MemoryApi that checks a real against its service first, as the daemon's Control does. */
class CheckingApi extends MemoryApi {
  override async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
    const s = this.services.find((x) => serviceId(x) === serviceId(svc));
    if (s) checkRealFitsService('real', real, s, {});
    return super.addReal(svc, real);
  }
}

// ---- protobuf wire encoding, by hand (what a broken or foreign client may send) ----
// (Buffer.concat does not type-check with this @types/node under TS 5.9: bytes are joined as arrays.)
function varint(n: bigint | number): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
const num = (field: number, n: bigint | number): number[] => [...tag(field, 0), ...varint(n)];
const len = (field: number, body: number[] | string): number[] => {
  const b = typeof body === 'string' ? [...Buffer.from(body)] : body;
  return [...tag(field, 2), ...varint(b.length), ...b];
};
/** AddRealRequest { service { vip, port, protocol TCP }, real { address, port, weight 1, method NAT } }. */
const addReal = (port: number[] = num(2, 80)): number[] => [
  ...len(1, [...len(1, '203.0.113.100'), ...port, ...num(3, 1)]),
  ...len(2, [...len(1, '10.77.0.20'), ...num(2, 80), ...num(3, 1), ...num(4, 1)]),
];

describe('api server: robustness on the wire', () => {
  let dir: string;
  let address: string;
  let api: CheckingApi;
  let server: ApiServer;
  let client: ApiClient;
  let raw: grpc.Client;
  const logged: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-api-wire-'));
    address = `unix:${join(dir, 'xlvsd.sock')}`;
    api = new CheckingApi();
    const sink = { write: (line: string): void => void logged.push(line) };
    server = await startApiServer(api, address, pino({ level: 'debug' }, sink));
    client = await connectApi(address, { connectTimeoutMs: 2000, callTimeoutMs: 5000 });
    raw = new grpc.Client(address, grpc.credentials.createInsecure());
  });

  after(async () => {
    raw?.close();
    client?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Sends `bytes` as the request of `method` as they are; resolves with the error the server answered. */
  function send(method: string, bytes: number[]): Promise<grpc.ServiceError> {
    const id = (b: Buffer): Buffer => b;
    return new Promise((resolve, reject) => {
      raw.makeUnaryRequest(`/xlvs.v1.Xlvs/${method}`, id, id, Buffer.from(bytes), { deadline: Date.now() + 5000 }, (err) => {
        if (err) resolve(err);
        else reject(new Error(`${method} took ${Buffer.from(bytes).toString('hex')}`));
      });
    });
  }

  function refused(err: grpc.ServiceError, ...parts: string[]): void {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${grpc.status[err.code]}: ${err.details}`);
    assert.deepEqual(err.metadata.get(ERROR_CODE_METADATA_KEY), ['E_INVALID_ARGUMENT']);
    for (const part of parts) assert.ok(err.details.includes(part), `${err.details} should include ${part}`);
  }

  it('answers a 100 KB address with INVALID_ARGUMENT at once, quoting a prefix, and the channel keeps working', async () => {
    const long = 'é'.repeat(51_200); // 100 KB of UTF-8, three times that percent-encoded in a trailer
    const before = api.calls.addReal;
    const t0 = Date.now();
    await assert.rejects(client.addReal(SVC, spec(long, 80)), (err: unknown) => {
      assert.ok(err instanceof ApiCallError, String(err));
      assert.equal(err.grpcCode, grpc.status.INVALID_ARGUMENT, err.message);
      assert.equal(err.code, 'E_INVALID_ARGUMENT');
      assert.ok(err.message.startsWith('real.address: must be at most 45 characters (got "éé'), err.message.slice(0, 100));
      assert.ok(err.message.endsWith('… (102400 bytes))'), err.message.slice(-100));
      assert.ok(err.message.length < QUOTE_MAX_CHARS + 100, `a ${err.message.length}-character message`);
      return true;
    });
    assert.ok(Date.now() - t0 < 4000, 'answered, not timed out');
    assert.equal(api.calls.addReal, before, 'refused before the api was called');
    assert.equal((await client.listServices()).length, 2, 'the same channel still answers');
    const line = logged.find((l) => l.includes('"method":"AddReal"') && l.includes('E_INVALID_ARGUMENT'));
    assert.ok(line !== undefined && line.length < 4 * QUOTE_MAX_CHARS + 1000, `logged in ${line?.length} characters`);
  });

  it('answers garbage, a cut-short request and a wrong wire type with INVALID_ARGUMENT naming what was not decoded', async () => {
    const before = api.calls.addReal;
    refused(await send('AddReal', [0xff, 0xff, 0xff]), 'AddRealRequest: is cut short inside a varint');
    const whole = addReal();
    refused(await send('AddReal', whole.slice(0, whole.length - 3)), 'real: is cut short');
    refused(await send('AddReal', [0x0c, 0x01]), 'has group end (wire type 4)');
    // A port sent as the string "80" was read as port 2 (its length byte).
    refused(await send('AddReal', addReal(len(2, '80'))),
      'service.port: must be a uint32, sent as varint (wire type 0), not as length-delimited (wire type 2)', '(got "80")');
    refused(await send('AddReal', addReal(num(2, 2n ** 32n + 80n))), 'service.port: must be a uint32: the value does not fit 32 bits');
    refused(await send('RemoveReal', len(2, [0xc3, 0x28])), 'address: must be UTF-8 text');
    assert.equal(api.calls.addReal, before, 'nothing reached the api');
    // A well-formed request still goes through, an unknown field of a newer client skipped.
    await new Promise<void>((resolve, reject) => {
      const id = (b: Buffer): Buffer => b;
      raw.makeUnaryRequest('/xlvs.v1.Xlvs/AddReal', id, id, Buffer.from([...addReal(), ...len(99, 'new')]), (err) => (err ? reject(err) : resolve()));
    });
    assert.equal(api.calls.addReal, before + 1);
  });

  it('ends a WatchHealth stream whose request cannot be decoded with INVALID_ARGUMENT', async () => {
    const id = (b: Buffer): Buffer => b;
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const call = raw.makeServerStreamRequest('/xlvs.v1.Xlvs/WatchHealth', id, id, Buffer.from([0x0a, 0x05, 0x01]));
      call.on('error', resolve);
      call.on('end', () => reject(new Error('the stream ended without an error')));
      call.on('data', () => undefined);
    });
    refused(err, 'WatchHealthRequest#1: is cut short');
  });

  it('answers a real past the service\'s capacity as RESOURCE_EXHAUSTED with E_CAPACITY, as the proto promises', async () => {
    const s = api.services[0]!;
    const saved = s.reals;
    s.reals = Array.from({ length: MAX_REALS_PER_SERVICE }, (_, i) => listed(`10.1.${i >> 8}.${i & 255}`, 80));
    try {
      await assert.rejects(client.addReal(SVC, spec('10.77.0.99', 80)), (err: unknown) => {
        assert.ok(err instanceof ApiCallError, String(err));
        assert.equal(err.grpcCode, grpc.status.RESOURCE_EXHAUSTED, err.message);
        assert.equal(err.code, 'E_CAPACITY');
        assert.match(err.message, /^too many reals in service tcp\/203\.0\.113\.100:80: the data plane holds at most 256/);
        return true;
      });
    } finally {
      s.reals = saved;
    }
  });
});
