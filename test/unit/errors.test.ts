// SPDX-License-Identifier: Apache-2.0
// Every error class keeps its stable code (clients switch on it) and names what was wrong; the
// API answers each with the gRPC status that fits (src/api/status.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  AbiMismatchError, AlreadyLoadedError, BpfError, BpffsError, CapacityError, ConfigError, FlowTableSizeError, InterfaceNotFoundError,
  InvalidArgumentError, NetnsAsyncError, NotFoundError, NotLoadedError, ProbeBatchError, QUOTE_MAX_CHARS, StateFileError, VerifierError, XlvsError, quote,
} from '../../src/errors.js';
import { ApiResponseError, ApiUnreachableError } from '../../src/api/client.js';
import { ListenError } from '../../src/api/listen.js';
import { errorToStatus } from '../../src/api/status.js';

test('each class has its stable code, names the value, and maps to its gRPC status', () => {
  const cases: [XlvsError, string, string, grpc.status][] = [
    [new ConfigError('x.yaml', 3, 5, 'port', 0, 'bad'), 'E_CONFIG', 'x.yaml:3:5: port', grpc.status.FAILED_PRECONDITION],
    [new InvalidArgumentError('real.port', 70000, 'bad'), 'E_INVALID_ARGUMENT', '70000', grpc.status.INVALID_ARGUMENT],
    [new NotFoundError('service', 'tcp/1.2.3.4:80'), 'E_NOT_FOUND', 'tcp/1.2.3.4:80', grpc.status.NOT_FOUND],
    [new CapacityError('reals in service tcp/1.2.3.4:80', 256, 257), 'E_CAPACITY', 'at most 256 (the change needs 257)', grpc.status.RESOURCE_EXHAUSTED],
    [new BpfError('bpf_map_update_elem', 7), 'E_BPF', 'errno 7', grpc.status.INTERNAL],
    [new VerifierError(13, 'R1 invalid'), 'E_VERIFIER', 'R1 invalid', grpc.status.INTERNAL],
    [new AbiMismatchError('xlvs_real.port'), 'E_ABI_MISMATCH', 'xlvs_real.port', grpc.status.INTERNAL],
    [new FlowTableSizeError(4096, 8192), 'E_FLOW_TABLE_SIZE', '(got 8192)', grpc.status.INTERNAL],
    [new InterfaceNotFoundError('interfaces.public', 'eth9'), 'E_NO_INTERFACE', 'interfaces.public: no interface of that name in this network namespace (got "eth9")', grpc.status.INTERNAL],
    [new StateFileError('/var/lib/xlvs/overrides.json', '[2].real.port: bad (got 70000)'), 'E_STATE', 'overrides.json[2].real.port', grpc.status.INTERNAL],
    [new AlreadyLoadedError('flows', 'build/xlvs.bpf.o'), 'E_LOADED', 'map flows: build/xlvs.bpf.o is already loaded', grpc.status.INTERNAL],
    [new NotLoadedError('flows', 'build/xlvs.bpf.o'), 'E_NOT_LOADED', 'map flows: build/xlvs.bpf.o is not loaded', grpc.status.INTERNAL],
    [new BpffsError('/tmp/pins', []), 'E_BPFFS', 'pin dir /tmp/pins is not under a bpffs mount (mounted: none)', grpc.status.INTERNAL],
    [new NetnsAsyncError('/run/netns/x'), 'E_NETNS_ASYNC', 'inNetns(/run/netns/x)', grpc.status.INTERNAL],
    [new ProbeBatchError(4, 3), 'E_PROBE_BATCH', '4 runs took 3 slots', grpc.status.INTERNAL],
    [new ListenError('/run/xlvs/xlvsd.sock', '/run/xlvs/xlvsd.sock is in use'), 'E_API_LISTEN', '/run/xlvs/xlvsd.sock', grpc.status.INTERNAL],
    [new ApiUnreachableError('unix:/x.sock', 'cannot reach xlvsd at unix:/x.sock: refused'), 'E_API_UNREACHABLE', 'unix:/x.sock', grpc.status.INTERNAL],
    [new ApiResponseError('ListServices', 'malformed ListServices response: x'), 'E_API_RESPONSE', 'ListServices', grpc.status.INTERNAL],
  ];
  for (const [err, code, names, status] of cases) {
    assert.equal(err.code, code, err.name);
    assert.equal(err.name, err.constructor.name);
    assert.ok(err.message.includes(names), `${err.name}: ${err.message} should include ${names}`);
    assert.equal(errorToStatus(err).code, status, err.name);
    assert.equal(errorToStatus(err).xlvsCode, code, err.name);
  }
});

test('errors quote at most a prefix of a value, with its size (issue 13)', () => {
  assert.equal(quote('10.0.0'), '"10.0.0"');
  assert.equal(quote(70000), '70000');
  assert.equal(quote(2n ** 64n), '18446744073709551616', 'a bigint, which JSON cannot write');
  const long = 'é'.repeat(51_200);
  assert.equal(quote(long), `${JSON.stringify('é'.repeat(QUOTE_MAX_CHARS))}… (102400 bytes)`);
  assert.match(quote({ reals: Array(1000).fill('10.0.0.1') }), /^\{"reals":\["10\.0\.0\.1".*… \(11011 bytes of JSON\)$/);
  const e = new InvalidArgumentError('real.address', long, 'must be at most 45 characters');
  assert.equal(e.message, `real.address: must be at most 45 characters (got ${quote(long)})`);
  assert.equal(e.value, quote(long), 'the error keeps the quote: loggers print `value` whole');
  const rebuilt = new InvalidArgumentError(e.field, e.value, e.reason);
  assert.deepEqual([rebuilt.message, rebuilt.value], [e.message, e.value], 'an error rebuilt from its fields says the same');
  const small = { vip: '10.0.0.1' };
  assert.equal(new ConfigError('f', 1, 1, 'x', small, 'bad').value, small, 'a short value is kept as it is');
});

test('the client errors keep the gRPC status they stand for', () => {
  assert.equal(new ApiUnreachableError('unix:/x.sock', 'x').grpcCode, grpc.status.UNAVAILABLE);
  assert.equal(new ApiResponseError('GetDrops', 'x').grpcCode, grpc.status.INTERNAL);
});
