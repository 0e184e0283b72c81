// SPDX-License-Identifier: Apache-2.0
// The http probe's option planner (src/health/probes/http.ts, http-status.ts): defaults, the
// status list, the Host header and SNI derived from the target, and every refused option naming
// its field ("check.status[1]") and value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boundedValue, InvalidArgumentError, quote } from '../../src/errors.js';
import { DEFAULT_MAX_BODY_BYTES, hostHeader, planHttp, serverName } from '../../src/health/probes/http.js';
import { parseStatusList, statusAllowed } from '../../src/health/probes/http-status.js';

function rejects(opts: unknown, field: string, value: unknown, reason: RegExp, prefix?: string): void {
  assert.throws(
    () => planHttp(opts, prefix),
    (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.equal(err.code, 'E_INVALID_ARGUMENT');
      assert.equal(err.field, field, err.message);
      // a long value is kept, and quoted, cut (errors.ts quote)
      assert.deepEqual(err.value, boundedValue(value), err.message);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
      assert.ok(err.message.endsWith(`(got ${quote(value)})`), err.message);
      assert.match(err.message, reason);
      return true;
    },
    `${JSON.stringify(opts)} must be refused on ${field}`,
  );
}

test('planHttp: defaults are GET /, 200-299, no body check, verify on, 1 MiB', () => {
  const p = planHttp({ timeoutMs: 500 });
  assert.equal(p.timeoutMs, 500);
  assert.equal(p.tls, false);
  assert.equal(p.method, 'GET');
  assert.equal(p.path, '/');
  assert.equal(p.host, undefined);
  assert.equal(p.status.text, '200-299');
  assert.equal(p.body, undefined);
  assert.equal(p.digest, undefined);
  assert.equal(p.verify, true);
  assert.equal(p.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
  assert.equal(planHttp(p), p, 'a plan passes through unchanged');
  assert.ok(Object.isFrozen(p));
});

test('planHttp: a digest is kept lowercase whatever case it was written in', () => {
  const hex = 'AB'.repeat(32);
  assert.deepEqual(planHttp({ timeoutMs: 1, digest: `SHA256:${hex}` }).digest, { algorithm: 'sha256', hex: hex.toLowerCase() });
  assert.deepEqual(planHttp({ timeoutMs: 1, digest: `md5:${'0F'.repeat(16)}` }).digest, { algorithm: 'md5', hex: '0f'.repeat(16) });
});

test('status lists: codes, ranges, a single value, and membership', () => {
  const s = parseStatusList('status', [200, '301-302', '404']);
  assert.equal(s.text, '200, 301-302, 404');
  assert.deepEqual([199, 200, 201, 300, 301, 302, 303, 404].map((c) => statusAllowed(s, c)), [false, true, false, false, true, true, false, true]);
  assert.equal(parseStatusList('status', 503).text, '503');
  assert.equal(parseStatusList('status', '500-599').text, '500-599');
  assert.equal(parseStatusList('status', undefined).text, '200-299');
  assert.ok(statusAllowed(parseStatusList('status', undefined), 299));
  assert.ok(!statusAllowed(parseStatusList('status', undefined), 300));
});

test('Host header and SNI: from the target by default, from the options when given', () => {
  const http = planHttp({ timeoutMs: 1 });
  const https = planHttp({ timeoutMs: 1, tls: true });
  assert.equal(hostHeader(http, { address: '10.0.0.1', port: 80 }), '10.0.0.1');
  assert.equal(hostHeader(http, { address: '10.0.0.1', port: 8080 }), '10.0.0.1:8080');
  assert.equal(hostHeader(http, { address: '10.0.0.1', port: 443 }), '10.0.0.1:443');
  assert.equal(hostHeader(https, { address: '10.0.0.1', port: 443 }), '10.0.0.1');
  assert.equal(hostHeader(http, { address: 'fd00::1', port: 80 }), '[fd00::1]');
  assert.equal(hostHeader(http, { address: 'fd00::1', port: 8080 }), '[fd00::1]:8080');
  assert.equal(serverName(https), '', 'no SNI for an IP literal');
  const named = planHttp({ timeoutMs: 1, tls: true, host: 'www.example.test:8443' });
  assert.equal(hostHeader(named, { address: '10.0.0.1', port: 443 }), 'www.example.test:8443');
  assert.equal(serverName(named), 'www.example.test');
  assert.equal(serverName(planHttp({ timeoutMs: 1, tls: true, host: '[fd00::1]:443' })), '');
  assert.equal(serverName(planHttp({ timeoutMs: 1, tls: true, host: '10.0.0.1' })), '');
  assert.equal(serverName(planHttp({ timeoutMs: 1, tls: true, host: 'a.test', sni: 'b.test' })), 'b.test');
});

test('planHttp: the options object and unknown or https-only keys', () => {
  rejects(null, 'check', null, /must be an object/);
  rejects(['GET'], 'check', ['GET'], /must be an object/);
  rejects({ timeoutMs: 100, url: '/x' }, 'check.url', '/x', /unknown option/);
  rejects({ timeoutMs: 100, sni: 'a.test' }, 'check.sni', 'a.test', /https only/);
  rejects({ timeoutMs: 100, verify: false }, 'check.verify', false, /https only/);
  rejects({ timeoutMs: 100, tls: false, ca: '/x.pem' }, 'check.ca', '/x.pem', /https only/);
  rejects({ timeoutMs: 100, tls: 'yes' }, 'check.tls', 'yes', /must be true or false/);
  rejects({ timeoutMs: 100, tls: true, verify: 1 }, 'check.verify', 1, /must be true or false/);
  rejects({ method: 'GET' }, 'services[2].check.timeoutMs', undefined, /integer from 1 to 60000/, 'services[2].check');
  rejects({ timeoutMs: 100, status: [200, 'x'] }, 'services[2].check.status[1]', 'x', /range/, 'services[2].check');
});

test('planHttp: timeoutMs and maxBodyBytes are bounded integers', () => {
  rejects({}, 'check.timeoutMs', undefined, /integer from 1 to 60000/);
  rejects({ timeoutMs: 0 }, 'check.timeoutMs', 0, /integer from 1 to 60000/);
  rejects({ timeoutMs: 60_001 }, 'check.timeoutMs', 60_001, /integer from 1 to 60000/);
  rejects({ timeoutMs: 1.5 }, 'check.timeoutMs', 1.5, /integer/);
  rejects({ timeoutMs: 100, maxBodyBytes: -1 }, 'check.maxBodyBytes', -1, /integer from 0 to 67108864/);
  rejects({ timeoutMs: 100, maxBodyBytes: 2 ** 27 }, 'check.maxBodyBytes', 2 ** 27, /integer from 0/);
  rejects({ timeoutMs: 100, maxBodyBytes: '1M' }, 'check.maxBodyBytes', '1M', /integer/);
});

test('planHttp: method and path', () => {
  rejects({ timeoutMs: 100, method: 'get' }, 'check.method', 'get', /one of GET, HEAD, POST, PUT, OPTIONS \(uppercase\)/);
  rejects({ timeoutMs: 100, method: 'DELETE' }, 'check.method', 'DELETE', /one of/);
  rejects({ timeoutMs: 100, method: 7 }, 'check.method', 7, /must be a string/);
  rejects({ timeoutMs: 100, path: 'health' }, 'check.path', 'health', /must start with "\/"/);
  rejects({ timeoutMs: 100, path: '/a b' }, 'check.path', '/a b', /without spaces, CR or LF/);
  rejects({ timeoutMs: 100, path: '/a\r\nX-Injected: 1' }, 'check.path', '/a\r\nX-Injected: 1', /CR or LF/);
  rejects({ timeoutMs: 100, path: '/\t' }, 'check.path', '/\t', /without spaces/);
  rejects({ timeoutMs: 100, path: '/é' }, 'check.path', '/é', /percent-encode/);
  rejects({ timeoutMs: 100, path: `/${'a'.repeat(5000)}` }, 'check.path', `/${'a'.repeat(5000)}`, /at most 4096/);
  rejects({ timeoutMs: 100, method: 'HEAD', body: 'ok' }, 'check.body', 'ok', /method HEAD/);
  rejects({ timeoutMs: 100, method: 'HEAD', digest: `md5:${'0'.repeat(32)}` }, 'check.digest', `md5:${'0'.repeat(32)}`, /method HEAD/);
});

test('planHttp: host and sni', () => {
  rejects({ timeoutMs: 100, host: '::1' }, 'check.host', '::1', /in brackets/);
  rejects({ timeoutMs: 100, host: '[10.0.0.1]' }, 'check.host', '[10.0.0.1]', /must be an IPv6 address/);
  rejects({ timeoutMs: 100, host: 'a b.test' }, 'check.host', 'a b.test', /must not contain spaces/);
  rejects({ timeoutMs: 100, host: 'a.test\r\nX: y' }, 'check.host', 'a.test\r\nX: y', /CR, LF/);
  rejects({ timeoutMs: 100, host: 'a..test' }, 'check.host', 'a..test', /DNS name or an IP address/);
  rejects({ timeoutMs: 100, host: '-a.test' }, 'check.host', '-a.test', /DNS name or an IP address/);
  rejects({ timeoutMs: 100, host: 'a.test:0' }, 'check.host', 'a.test:0', /port "0" must be from 1 to 65535/);
  rejects({ timeoutMs: 100, host: 'a.test:70000' }, 'check.host', 'a.test:70000', /port "70000"/);
  rejects({ timeoutMs: 100, host: '[::1]:x' }, 'check.host', '[::1]:x', /port "x"/);
  rejects({ timeoutMs: 100, host: '' }, 'check.host', '', /DNS name/);
  rejects({ timeoutMs: 100, tls: true, sni: '10.0.0.1' }, 'check.sni', '10.0.0.1', /SNI cannot carry an IP/);
  rejects({ timeoutMs: 100, tls: true, sni: 'a.test:443' }, 'check.sni', 'a.test:443', /must be a DNS name/);
});

test('planHttp: status entries are named by index', () => {
  rejects({ timeoutMs: 100, status: [200, 'abc'] }, 'check.status[1]', 'abc', /status code or a "lo-hi" range/);
  rejects({ timeoutMs: 100, status: [200, 600] }, 'check.status[1]', 600, /from 100 to 599/);
  rejects({ timeoutMs: 100, status: ['099-200'] }, 'check.status[0]', '099-200', /from 100 to 599/);
  rejects({ timeoutMs: 100, status: [204, '300-200'] }, 'check.status[1]', '300-200', /starts after it ends \(300 > 200\)/);
  rejects({ timeoutMs: 100, status: [200, 2.5] }, 'check.status[1]', 2.5, /from 100 to 599/);
  rejects({ timeoutMs: 100, status: [null] }, 'check.status[0]', null, /status code or/);
  rejects({ timeoutMs: 100, status: [] }, 'check.status', [], /at least one/);
  rejects({ timeoutMs: 100, status: 99 }, 'check.status', 99, /from 100 to 599/);
});

test('planHttp: body and digest', () => {
  rejects({ timeoutMs: 100, body: '/ok/g' }, 'check.body', '/ok/g', /flags "g" not allowed/);
  rejects({ timeoutMs: 100, body: '' }, 'check.body', '', /must not be empty/);
  rejects({ timeoutMs: 100, digest: 'abc' }, 'check.digest', 'abc', /"sha256:<64 hex digits>" or "md5:<32 hex digits>"/);
  rejects({ timeoutMs: 100, digest: `sha1:${'0'.repeat(40)}` }, 'check.digest', `sha1:${'0'.repeat(40)}`, /sha256:/);
  rejects({ timeoutMs: 100, digest: `sha256:${'0'.repeat(32)}` }, 'check.digest', `sha256:${'0'.repeat(32)}`, /sha256 digest has 64 hex digits, not 32/);
  rejects({ timeoutMs: 100, digest: `md5:${'g'.repeat(32)}` }, 'check.digest', `md5:${'g'.repeat(32)}`, /hex digits/);
  rejects({ timeoutMs: 100, digest: 5 }, 'check.digest', 5, /must be a string/);
});

test('planHttp: ca is read once at plan time; missing, unreadable or non-PEM files are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-http-ca-'));
  try {
    const missing = join(dir, 'missing.pem');
    rejects({ timeoutMs: 100, tls: true, ca: missing }, 'check.ca', missing, /cannot be read \(ENOENT\)/);
    rejects({ timeoutMs: 100, tls: true, ca: dir }, 'check.ca', dir, /cannot be read \(EISDIR\)/);
    const text = join(dir, 'text.pem');
    writeFileSync(text, 'not a certificate\n');
    rejects({ timeoutMs: 100, tls: true, ca: text }, 'check.ca', text, /holds no PEM certificate/);
    const broken = join(dir, 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    rejects({ timeoutMs: 100, tls: true, ca: broken }, 'check.ca', broken, /not a valid PEM certificate/);
    rejects({ timeoutMs: 100, tls: true, ca: '' }, 'check.ca', '', /path of a PEM file/);
    rejects({ timeoutMs: 100, tls: true, verify: false, ca: text }, 'check.ca', text, /no effect with verify: false/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
