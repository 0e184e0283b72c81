// SPDX-License-Identifier: Apache-2.0
// The gRPC server for xlvs.v1.Xlvs. It owns transport concerns only: decode and validate the
// whole request (convert.ts), call ControlApi, encode the answer, and turn failures into gRPC
// statuses (status.ts). What the calls mean is the daemon's business, behind ControlApi.

import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { XlvsError, boundedValue } from '../errors.js';
import type { ControlApi } from './control-api.js';
import { realId, serviceId } from '../model/types.js';
import { addRealFromWire, dropsToWire, removeRealFromWire, serviceStatusToWire } from './convert.js';
import { healthEventToWire, healthReportToWire } from './convert-health.js';
import { capabilitiesToWire } from './convert-capabilities.js';
import { clearOverridesFromWire, overrideToWire } from './convert-overrides.js';
import { haEventToWire, haStatusToWire, setHaHoldFromWire } from './convert-ha.js';
import type { XlvsHandlers } from '../gen/proto/xlvs/v1/Xlvs.js';
import { bindUnixSocket, isLoopbackHostPort, ListenError, parseListenAddress, prepareUnixSocket } from './listen.js';
import { loadXlvsProto } from './proto.js';
import { errorToStatus, toServiceError } from './status.js';
import { checkedService, UndecodableRequest } from './wire-check.js';

export interface ApiServer {
  /** The bound address: `listen` as given, except that a TCP port 0 is replaced by the real port. */
  readonly address: string;
  /** Stops accepting calls, lets in-flight calls finish (forcing after a grace period), removes a unix socket file. Idempotent. */
  close(): Promise<void>;
}

/** How long close() waits for in-flight calls before cutting connections. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * Wraps an async handler as a grpc-js unary handler. Every failure is logged once, here, with
 * the method and codes, and answered with the mapped status; nothing is swallowed.
 */
function unary<Req, Res>(
  log: Logger,
  method: string,
  handle: (req: Req) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const run = async (): Promise<void> => {
      let res: Res;
      try {
        // A request that failed the wire check (wire-check.ts) is refused like a bad field.
        if ((call.request as unknown) instanceof UndecodableRequest) throw (call.request as unknown as UndecodableRequest).error;
        res = await handle(call.request);
      } catch (err) {
        const mapped = errorToStatus(err);
        const fields = {
          method,
          grpcCode: grpc.status[mapped.code],
          code: mapped.xlvsCode,
          details: mapped.details,
          request: loggedRequest(call.request), // says what was attempted
        };
        if (mapped.code === grpc.status.INTERNAL) log.error({ ...fields, err }, 'api call failed');
        else log.warn(fields, 'api call rejected');
        callback(toServiceError(mapped));
        return;
      }
      callback(null, res);
    };
    run().catch((err: unknown) => {
      // Only reachable if grpc-js itself throws from callback(); the call's fate is then unknown.
      log.error({ method, err }, 'api call could not be answered');
    });
  };
}

/**
 * A request as a log line shows it: long strings in it cut to their quote (errors.ts), so a
 * 100 KB address is not a 100 KB log line; an undecodable one as the error says it.
 */
function loggedRequest(request: unknown): unknown {
  if (request instanceof UndecodableRequest) return '(not decoded)';
  if (typeof request === 'string') return boundedValue(request);
  if (request === null || typeof request !== 'object') return request;
  if (Array.isArray(request)) return request.map(loggedRequest);
  return Object.fromEntries(Object.entries(request).map(([k, v]) => [k, loggedRequest(v)]));
}

/** Each handler's request and answer types come from XlvsHandlers (generated from the proto). */
function handlers(api: ControlApi, log: Logger, streams: Set<grpc.ServerWritableStream<unknown, unknown>>): XlvsHandlers {
  return {
    ListServices: unary(log, 'ListServices', async () => ({
      services: (await api.listServices()).map(serviceStatusToWire),
    })),
    AddReal: unary(log, 'AddReal', async (req) => {
      const { service, real } = addRealFromWire(req);
      await api.addReal(service, real);
      log.info(
        { method: 'AddReal', service: serviceId(service), real: realId(real), weight: real.weight, forward: real.method },
        'real added or updated',
      );
      return {};
    }),
    RemoveReal: unary(log, 'RemoveReal', async (req) => {
      const { service, address, port } = removeRealFromWire(req);
      await api.removeReal(service, address, port);
      log.info({ method: 'RemoveReal', service: serviceId(service), real: realId({ address, port }) }, 'real removed');
      return {};
    }),
    GetDrops: unary(log, 'GetDrops', async () => ({
      drops: dropsToWire(await api.drops()),
    })),
    ListHealth: unary(log, 'ListHealth', async () => healthReportToWire(await api.listHealth())),
    WatchHealth: watch(log, streams, 'WatchHealth', (write) => api.watchHealth((e) => write(healthEventToWire(e)))),
    GetCapabilities: unary(log, 'GetCapabilities', async () => capabilitiesToWire(await api.getCapabilities())),
    ListOverrides: unary(log, 'ListOverrides', async () => ({ overrides: (await api.listOverrides()).map(overrideToWire) })),
    ClearOverrides: unary(log, 'ClearOverrides', async (req) => ({ cleared: (await api.clearOverrides(clearOverridesFromWire(req))).map(overrideToWire) })),
    GetHaStatus: unary(log, 'GetHaStatus', async () => ({ status: haStatusToWire(await api.haStatus()) })),
    WatchHa: watch(log, streams, 'WatchHa', (write) => api.watchHa((e) => write(haEventToWire(e)))),
    HaFailover: unary(log, 'HaFailover', async () => {
      const status = await api.haFailover();
      log.info({ method: 'HaFailover', role: status.role, peer: status.peer.name }, 'ha failover done');
      return { status: haStatusToWire(status) };
    }),
    SetHaHold: unary(log, 'SetHaHold', async (req) => {
      const on = setHaHoldFromWire(req);
      const status = await api.setHaHold(on);
      log.info({ method: 'SetHaHold', hold: on, role: status.role }, 'ha hold set');
      return { status: haStatusToWire(status) };
    }),
  };
}

/** Ends a call with the mapped status of `err` (a stream's unary-style failure), logged as unary() does. */
function refuse(log: Logger, method: string, call: grpc.ServerWritableStream<unknown, unknown>, err: unknown): void {
  const mapped = errorToStatus(err);
  const fields = { method, grpcCode: grpc.status[mapped.code], code: mapped.xlvsCode, details: mapped.details };
  if (mapped.code === grpc.status.INTERNAL) log.error({ ...fields, err }, 'api call failed');
  else log.warn(fields, 'api call rejected');
  call.emit('error', toServiceError(mapped));
}

/**
 * A server stream of events (`subscribe` starts it and returns its stop) until the client
 * cancels or the server shuts down; the subscription ends with the stream, whichever way. A
 * subscribe that throws (E_HA_OFF) ends the call with that status. A slow client is not waited
 * for: grpc-js buffers its writes; events are small and rare.
 */
function watch<Req, Ev>(
  log: Logger,
  streams: Set<grpc.ServerWritableStream<unknown, unknown>>,
  method: string,
  subscribe: (write: (e: Ev) => void) => () => void,
): grpc.handleServerStreamingCall<Req, Ev> {
  return (call) => {
    const any = call as unknown as grpc.ServerWritableStream<unknown, unknown>;
    if ((call.request as unknown) instanceof UndecodableRequest) {
      refuse(log, method, any, (call.request as unknown as UndecodableRequest).error);
      return;
    }
    let stop: () => void;
    try {
      stop = subscribe((e) => call.write(e));
    } catch (err) {
      refuse(log, method, any, err);
      return;
    }
    streams.add(any);
    let ended = false;
    const end = (why: string, err?: unknown): void => {
      if (ended) return;
      ended = true;
      stop();
      streams.delete(any);
      if (err === undefined) log.debug({ method, why }, 'watch ended');
      else log.warn({ method, err }, 'watch stream failed');
    };
    call.on('cancelled', () => end('cancelled'));
    call.on('close', () => end('closed'));
    call.on('finish', () => end('finished'));
    call.on('error', (err) => end('failed', err));
  };
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(new ListenError(address, `cannot listen on ${address}: ${err.message}`, { cause: err }));
      else resolve(port);
    });
  });
}

export interface ApiServerOptions {
  /** Group id of a unix socket (mode 0660 whatever the umask); default the daemon's own (root's). */
  socketGroup?: number;
}

/**
 * Starts serving `api` on `listen` ("unix:/run/xlvs/xlvsd.sock", "127.0.0.1:50051", ...).
 * Rejects with InvalidArgumentError for a malformed address and ListenError (E_API_LISTEN) when
 * the address cannot be prepared or bound.
 */
export async function startApiServer(api: ControlApi, listen: string, log: Logger, opts: ApiServerOptions = {}): Promise<ApiServer> {
  const target = parseListenAddress(listen);
  const { service } = loadXlvsProto();

  if (target.kind === 'unix') {
    try {
      await prepareUnixSocket(target.path);
    } catch (err) {
      if (err instanceof XlvsError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new ListenError(target.path, `cannot prepare unix socket ${target.path}: ${msg}`, { cause: err });
    }
  } else if (!isLoopbackHostPort(target.hostPort)) {
    // The API has no authentication; on a reachable address anyone can reconfigure the LB.
    log.warn({ listen }, 'api listens on a non-loopback TCP address without authentication');
  }

  const server = new grpc.Server();
  // Open watch streams: ended at close(), or shutdown would wait out its grace period for them.
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  server.addService(checkedService(service), handlers(api, log, streams));
  let port: number;
  try {
    port = target.kind === 'unix' ? await bindUnixSocket(target.path, () => bind(server, listen), opts.socketGroup) : await bind(server, listen);
  } catch (err) {
    server.forceShutdown();
    if (err instanceof XlvsError) throw err; // bind's ListenError
    // Bound, but its mode or group could not be set: not served, and not left behind.
    if (target.kind === 'unix') await rm(target.path, { force: true });
    const msg = err instanceof Error ? err.message : String(err);
    throw new ListenError(listen, `cannot set the mode or group of ${listen}: ${msg}`, { cause: err });
  }
  const address = target.kind === 'tcp' ? listen.replace(/:[0-9]+$/, `:${port}`) : listen;
  log.info({ listen: address }, 'api server listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const call of streams) call.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'api calls still running at shutdown; cutting connections');
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown((err) => {
          clearTimeout(timer);
          if (err) log.warn({ err }, 'api server shutdown reported an error');
          resolve();
        });
      });
      if (target.kind === 'unix') await rm(target.path, { force: true });
      log.info({ listen: address }, 'api server closed');
    })();
    return closing;
  };

  return { address, close };
}
