// SPDX-License-Identifier: Apache-2.0
// The http/https health probe (issue 5): one request on one fresh connection (no agent, no
// keep-alive, no redirects followed: a 301 is a status like any other), judged on the status,
// then, when asked, on the body (expect string) and its digest (keepalived's HTTP_GET digest, so
// a real serving stale content is taken out). One timeout covers connect, TLS, headers and body.
// planHttp validates untrusted options once (the config loader calls it at load, and reads the
// `ca` file then); probeHttp takes a plan or raw options and never throws for what a server does.

import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../errors.js';
import { type Expect, parseExpect, quoteReply, replyMatches } from './expect.js';
import { type StatusSet, parseStatusList, statusAllowed } from './http-status.js';
import { type ProbeResult, type ProbeTarget, MAX_PROBE_TIMEOUT_MS, checkTarget, errorReason, runProbe } from './index.js';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** A body longer than this fails the check unless maxBodyBytes says otherwise. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** The most maxBodyBytes may allow: a health check is not a download. */
export const MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024;
/** Longer paths are mistakes (and beyond what many servers accept in a request line). */
export const MAX_PATH_CHARS = 4096;

const USER_AGENT = 'xlvs-health/1';

export interface HttpProbeOptions {
  readonly timeoutMs: number;
  /** https instead of http. */
  readonly tls?: boolean;
  /** GET (default), HEAD, POST, PUT or OPTIONS; POST and PUT send an empty body. */
  readonly method?: string;
  /** Starts with "/"; printable ASCII without spaces (percent-encode the rest). Default "/". */
  readonly path?: string;
  /** The Host header, `name`, `name:port`, `1.2.3.4[:port]` or `[v6][:port]`; default the target. */
  readonly host?: string;
  /** https only: the server name sent in the handshake; default the host when it is a DNS name. */
  readonly sni?: string;
  /** Codes and "lo-hi" ranges; default 200-299. */
  readonly status?: readonly (number | string)[] | number | string;
  /** Literal substring, /regex/flags or `*` the body must satisfy. */
  readonly body?: string;
  /** "sha256:<64 hex>" or "md5:<32 hex>": the body's digest must equal it. */
  readonly digest?: string;
  /** https only: verify the certificate against `ca` or the system store (default true). */
  readonly verify?: boolean;
  /** https only: path to a PEM file of trusted certificates, read when the check is planned. */
  readonly ca?: string;
  /** A longer body fails the check; default 1 MiB. */
  readonly maxBodyBytes?: number;
}

export interface Digest {
  readonly algorithm: 'sha256' | 'md5';
  /** Lowercase hex. */
  readonly hex: string;
}

interface HostOption {
  /** The header value as given. */
  readonly header: string;
  /** The name part when it is a DNS name (not an IP literal): the default SNI. */
  readonly dnsName: string | undefined;
}

export interface HttpPlan {
  readonly timeoutMs: number;
  readonly tls: boolean;
  readonly method: HttpMethod;
  readonly path: string;
  readonly host: HostOption | undefined;
  readonly sni: string | undefined;
  readonly status: StatusSet;
  readonly body: Expect | undefined;
  readonly digest: Digest | undefined;
  readonly verify: boolean;
  /** The PEM text of `ca`, read once at plan time. */
  readonly ca: string | undefined;
  readonly maxBodyBytes: number;
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'timeoutMs', 'tls', 'method', 'path', 'host', 'sni', 'status', 'body', 'digest', 'verify', 'ca', 'maxBodyBytes',
]);
const TLS_ONLY = ['sni', 'verify', 'ca'] as const;

// Plans come only from planHttp; probeHttp tells them from raw options by identity.
const plans = new WeakSet<object>();

// RFC 1123 labels (underscores tolerated: they occur in real internal names), 253 chars at most.
const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
const DIGEST = /^(sha256|md5):([0-9a-fA-F]+)$/i;
const DIGEST_HEX_CHARS = { sha256: 64, md5: 32 } as const;
// Visible ASCII only: no space, CR, LF or other control; anything else must be percent-encoded.
const PATH = /^\/[\x21-\x7e]*$/;

function bool(field: string, value: unknown, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(field, value, 'must be true or false');
  return value;
}

function str(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidArgumentError(field, value, 'must be a string');
  return value;
}

function parsePort(field: string, value: string, text: string): void {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(field, value, `port "${text}" must be from 1 to 65535`);
  }
}

function parseHost(field: string, raw: unknown): HostOption {
  const value = str(field, raw);
  // Checked first so that a header injection attempt is named as such, whatever else is wrong.
  if (/[\x00-\x20\x7f]/.test(value)) throw new InvalidArgumentError(field, value, 'must not contain spaces, CR, LF or other control characters');
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
  if (bracketed) {
    if (isIP(bracketed[1]) !== 6) throw new InvalidArgumentError(field, value, `"${bracketed[1]}" in brackets must be an IPv6 address`);
    if (bracketed[2] !== undefined) parsePort(field, value, bracketed[2]);
    return { header: value, dnsName: undefined };
  }
  const colons = value.split(':').length - 1;
  if (colons > 1) throw new InvalidArgumentError(field, value, 'an IPv6 address must be written in brackets, as [addr] or [addr]:port');
  const [name, port] = colons === 1 ? value.split(':') : [value, undefined];
  if (port !== undefined) parsePort(field, value, port);
  if (isIP(name) === 4) return { header: value, dnsName: undefined };
  if (!DNS_NAME.test(name)) throw new InvalidArgumentError(field, value, 'must be a DNS name or an IP address, with an optional :port');
  return { header: value, dnsName: name };
}

function parseSni(field: string, raw: unknown): string {
  const value = str(field, raw);
  if (isIP(value) !== 0) throw new InvalidArgumentError(field, value, 'must be a DNS name (SNI cannot carry an IP address)');
  if (!DNS_NAME.test(value)) throw new InvalidArgumentError(field, value, 'must be a DNS name');
  return value;
}

function parseDigest(field: string, raw: unknown): Digest {
  const value = str(field, raw);
  const m = DIGEST.exec(value);
  if (!m) throw new InvalidArgumentError(field, value, 'must be "sha256:<64 hex digits>" or "md5:<32 hex digits>"');
  const algorithm = m[1].toLowerCase() as Digest['algorithm'];
  const want = DIGEST_HEX_CHARS[algorithm];
  if (m[2].length !== want) throw new InvalidArgumentError(field, value, `a ${algorithm} digest has ${want} hex digits, not ${m[2].length}`);
  return { algorithm, hex: m[2].toLowerCase() };
}

function readCa(field: string, raw: unknown): string {
  const path = str(field, raw);
  if (path === '') throw new InvalidArgumentError(field, path, 'must be the path of a PEM file');
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(field, path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new InvalidArgumentError(field, path, 'holds no PEM certificate');
  try {
    new X509Certificate(pem); // parses the first certificate: a corrupt file is refused now, not at every probe
  } catch (err) {
    throw new InvalidArgumentError(field, path, `is not a valid PEM certificate (${(err as Error).message})`);
  }
  return pem;
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, value, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The http probe's options from a check's params: https is the type, not an option. */
export function httpOptions(type: 'http' | 'https', params: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return { ...params, tls: type === 'https' };
}

/**
 * Validates untrusted http check options (config file, gRPC) and returns the plan a probe runs.
 * `field` prefixes every field name in errors ("check.status[1]"). Reads the `ca` file.
 */
export function planHttp(opts: unknown, field = 'check'): HttpPlan {
  if (plans.has(opts as object)) return opts as HttpPlan;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new InvalidArgumentError(field, opts, 'must be an object');
  const raw = opts as Record<string, unknown>;
  const f = (key: string): string => `${field}.${key}`;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidArgumentError(f(key), raw[key], 'unknown option');
  }
  const tls = bool(f('tls'), raw.tls, false);
  if (!tls) {
    for (const key of TLS_ONLY) {
      if (raw[key] !== undefined) throw new InvalidArgumentError(f(key), raw[key], 'applies to https only (set tls: true)');
    }
  }
  const method = raw.method === undefined ? 'GET' : str(f('method'), raw.method);
  if (!(HTTP_METHODS as readonly string[]).includes(method)) {
    throw new InvalidArgumentError(f('method'), method, `must be one of ${HTTP_METHODS.join(', ')} (uppercase)`);
  }
  const path = raw.path === undefined ? '/' : str(f('path'), raw.path);
  if (!path.startsWith('/')) throw new InvalidArgumentError(f('path'), path, 'must start with "/"');
  if (path.length > MAX_PATH_CHARS) throw new InvalidArgumentError(f('path'), path, `must be at most ${MAX_PATH_CHARS} characters`);
  if (!PATH.test(path)) throw new InvalidArgumentError(f('path'), path, 'must be printable ASCII without spaces, CR or LF (percent-encode the rest)');
  const verify = bool(f('verify'), raw.verify, true);
  if (raw.ca !== undefined && !verify) throw new InvalidArgumentError(f('ca'), raw.ca, 'has no effect with verify: false');
  const body = raw.body === undefined ? undefined : parseExpect(f('body'), raw.body);
  const digest = raw.digest === undefined ? undefined : parseDigest(f('digest'), raw.digest);
  if (method === 'HEAD') {
    // A HEAD response has no body, so these could never pass.
    if (body) throw new InvalidArgumentError(f('body'), raw.body, 'cannot be checked with method HEAD (no body)');
    if (digest) throw new InvalidArgumentError(f('digest'), raw.digest, 'cannot be checked with method HEAD (no body)');
  }
  const plan: HttpPlan = Object.freeze({
    timeoutMs: integer(f('timeoutMs'), raw.timeoutMs, 1, MAX_PROBE_TIMEOUT_MS),
    tls,
    method: method as HttpMethod,
    path,
    host: raw.host === undefined ? undefined : parseHost(f('host'), raw.host),
    sni: raw.sni === undefined ? undefined : parseSni(f('sni'), raw.sni),
    status: parseStatusList(f('status'), raw.status),
    body,
    digest,
    verify,
    ca: raw.ca === undefined ? undefined : readCa(f('ca'), raw.ca),
    maxBodyBytes: raw.maxBodyBytes === undefined ? DEFAULT_MAX_BODY_BYTES : integer(f('maxBodyBytes'), raw.maxBodyBytes, 0, MAX_BODY_BYTES_LIMIT),
  });
  plans.add(plan);
  return plan;
}

/** The Host header: as configured, or the target (IPv6 in brackets) with its port unless the scheme's default. */
export function hostHeader(plan: HttpPlan, target: ProbeTarget): string {
  if (plan.host) return plan.host.header;
  const addr = isIP(target.address) === 6 ? `[${target.address}]` : target.address;
  return target.port === (plan.tls ? 443 : 80) ? addr : `${addr}:${target.port}`;
}

/** The SNI sent: configured, else the host's DNS name; '' (none) for an IP literal. */
export function serverName(plan: HttpPlan): string {
  return plan.sni ?? plan.host?.dnsName ?? '';
}

// Buffer.concat does not type-check with this @types/node under TS 5.9; Uint8Array.set does.
function join(chunks: readonly Buffer[], length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function describeExpect(expect: Expect): string {
  if (expect.kind === 'literal') return JSON.stringify(expect.bytes.toString('utf8'));
  return expect.source;
}

type Phase = 'connecting' | 'in the tls handshake' | 'waiting for the response' | 'reading body';

/** An error's reason by phase: "connect ECONNREFUSED", "tls DEPTH_ZERO_SELF_SIGNED_CERT", "read ECONNRESET". */
function failureReason(phase: Phase, err: unknown): string {
  switch (phase) {
    case 'connecting':
      return errorReason('connect', err);
    case 'in the tls handshake':
      return errorReason('tls', err);
    case 'waiting for the response':
      // Node's name for a server closing before any response; say so plainly.
      if ((err as Error).message === 'socket hang up') return 'connection closed before the response';
      return errorReason('read', err);
    case 'reading body':
      return errorReason('read body', err);
  }
}

export async function probeHttp(target: ProbeTarget, opts: HttpProbeOptions | HttpPlan, signal: AbortSignal): Promise<ProbeResult> {
  const family = checkTarget(target);
  const plan = planHttp(opts);
  let phase: Phase = 'connecting';
  const timeout = () => ({ ok: false, reason: `timeout after ${plan.timeoutMs} ms ${phase}` });
  return runProbe(signal, plan.timeoutMs, timeout, (finish) => {
    const headers: Record<string, string> = { Host: hostHeader(plan, target), Connection: 'close', 'User-Agent': USER_AGENT, Accept: '*/*' };
    if (plan.method === 'POST' || plan.method === 'PUT') headers['Content-Length'] = '0';
    const options: HttpsRequestOptions = {
      host: target.address, port: target.port, family, method: plan.method, path: plan.path, headers,
      agent: false, setHost: false,
    };
    if (plan.tls) {
      // '' keeps Node from deriving an SNI from the Host header itself; identity is then checked
      // against the servername, or the target address when there is none.
      options.servername = serverName(plan);
      options.rejectUnauthorized = plan.verify;
      if (plan.ca !== undefined) options.ca = plan.ca;
    }
    const req: ClientRequest = plan.tls ? httpsRequest(options) : httpRequest(options);
    req.on('error', (err) => finish(false, failureReason(phase, err)));
    req.on('socket', (sock) => {
      sock.once('connect', () => { phase = plan.tls ? 'in the tls handshake' : 'waiting for the response'; });
      if (plan.tls) sock.once('secureConnect', () => { phase = 'waiting for the response'; });
    });
    req.on('response', (res) => onResponse(res, plan, finish, () => { phase = 'reading body'; }));
    req.end();
    return () => req.destroy();
  });
}

function onResponse(res: IncomingMessage, plan: HttpPlan, finish: (ok: boolean, reason: string) => void, reading: () => void): void {
  // Always listened to: an unread body cut short by our own destroy must not be an unhandled error.
  res.on('error', (err) => finish(false, failureReason('reading body', err)));
  const status = res.statusCode ?? 0;
  if (!statusAllowed(plan.status, status)) {
    finish(false, `status ${status} not in ${plan.status.text}`);
    return;
  }
  if (!plan.body && !plan.digest) {
    finish(true, `status ${status}`); // nothing asked of the body: it is not read
    return;
  }
  const tooLong = `body longer than ${plan.maxBodyBytes} bytes`;
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > plan.maxBodyBytes) {
    finish(false, tooLong);
    return;
  }
  reading();
  const hash = plan.digest ? createHash(plan.digest.algorithm) : undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  res.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > plan.maxBodyBytes) {
      finish(false, tooLong);
      return;
    }
    // A plain Uint8Array view: this @types/node's Buffer does not type-check as BinaryLike under TS 5.9.
    hash?.update(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    if (plan.body) chunks.push(chunk);
  });
  res.on('close', () => {
    if (!res.complete) finish(false, 'connection closed reading body');
  });
  res.on('end', () => {
    const said = [`status ${status}`];
    if (plan.body) {
      const body = join(chunks, received);
      if (!replyMatches(plan.body, body)) {
        finish(false, `body did not match ${describeExpect(plan.body)} (got ${quoteReply(body)})`);
        return;
      }
      said.push(`body matched ${plan.body.source}`);
    }
    if (plan.digest && hash) {
      const got = hash.digest('hex');
      if (got !== plan.digest.hex) {
        finish(false, `body ${plan.digest.algorithm} ${got} != ${plan.digest.hex}`);
        return;
      }
      said.push(`${plan.digest.algorithm} matched`);
    }
    finish(true, said.join(', '));
  });
}
