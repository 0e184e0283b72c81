// SPDX-License-Identifier: Apache-2.0
// A typed client for xlvs.v1.Xlvs that speaks model types, so callers (xlvsctl, integration
// tests) never see wire shapes. It implements ControlApi: anything written against the daemon's
// interface can be pointed at a remote daemon instead.

import * as grpc from '@grpc/grpc-js';
import { XlvsError } from '../errors.js';
import type { ControlApi } from './control-api.js';
import type { RealSpec, ServiceKey, ServiceStatus } from '../model/types.js';
import { dropsFromWire, realToWire, serviceKeyToWire, serviceStatusFromWire } from './convert.js';
import { healthEventFromWire, healthReportFromWire } from './convert-health.js';
import { capabilitiesFromWire } from './convert-capabilities.js';
import { overridesFromWire } from './convert-overrides.js';
import type { OverrideStatus } from '../state/override-rules.js';
import type { ClearOverridesResponse__Output } from '../gen/proto/xlvs/v1/ClearOverridesResponse.js';
import type { ListOverridesResponse__Output } from '../gen/proto/xlvs/v1/ListOverridesResponse.js';
import type { CapabilityReport } from '../host/capabilities.js';
import type { HealthEvent, HealthReport } from '../health/report.js';
import type { GetCapabilitiesResponse__Output } from '../gen/proto/xlvs/v1/GetCapabilitiesResponse.js';
import type { GetDropsResponse__Output } from '../gen/proto/xlvs/v1/GetDropsResponse.js';
import type { HealthEvent__Output } from '../gen/proto/xlvs/v1/HealthEvent.js';
import type { GetHaStatusResponse__Output } from '../gen/proto/xlvs/v1/GetHaStatusResponse.js';
import type { HaEvent__Output } from '../gen/proto/xlvs/v1/HaEvent.js';
import type { HaFailoverResponse__Output } from '../gen/proto/xlvs/v1/HaFailoverResponse.js';
import type { SetHaHoldResponse__Output } from '../gen/proto/xlvs/v1/SetHaHoldResponse.js';
import type { HaEvent, HaStatus } from '../ha/types.js';
import { haEventFromWire, haStatusFromWire } from './convert-ha.js';
import type { ListHealthResponse__Output } from '../gen/proto/xlvs/v1/ListHealthResponse.js';
import type { ListServicesResponse__Output } from '../gen/proto/xlvs/v1/ListServicesResponse.js';
import { loadXlvsProto } from './proto.js';
import { ERROR_CODE_METADATA_KEY } from './status.js';

/**
 * A call failed. `code` is the daemon's xlvs code (from the `xlvs-error-code` trailer) when it
 * sent one, otherwise "E_GRPC_<STATUS>" or that of a subclass below; `grpcCode` is the gRPC status.
 */
export class ApiCallError extends XlvsError {
  constructor(
    readonly grpcCode: grpc.status,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** xlvsd cannot be reached at all, or the connection to it ended. */
export class ApiUnreachableError extends ApiCallError {
  constructor(readonly address: string, message: string, options?: { cause?: unknown }) {
    super(grpc.status.UNAVAILABLE, 'E_API_UNREACHABLE', message, options);
  }
}

/** xlvsd's answer to `method` cannot be turned into model types (a different version?). */
export class ApiResponseError extends ApiCallError {
  constructor(readonly method: string, message: string, options?: { cause?: unknown }) {
    super(grpc.status.INTERNAL, 'E_API_RESPONSE', message, options);
  }
}

export interface ApiClient extends ControlApi {
  /** The address this client talks to. */
  readonly address: string;
  /** Closes the channel; later calls fail. */
  close(): void;
}

export interface ConnectOptions {
  /** How long connectApi waits for the daemon to accept a connection. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Keep retrying until connectTimeoutMs when the connection fails (for callers that start
   * xlvsd concurrently). Default false: fail at the first failed attempt, so a CLI user whose
   * daemon is down learns it at once instead of after the timeout.
   */
  waitForDaemon?: boolean;
  /** Deadline of each call. Default 10000. */
  callTimeoutMs?: number;
}

/** Starts one unary call of the generated client with the metadata, options and callback given. */
type StartCall<Res> = (metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

function fromServiceError(address: string, err: grpc.ServiceError): ApiCallError {
  const sent = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  if (typeof sent === 'string') return new ApiCallError(err.code, sent, err.details, { cause: err });
  // UNAVAILABLE without our trailer means the transport failed, not the daemon. (A missed
  // deadline is not the same thing: the daemon may be alive but slow, so it keeps its gRPC code.)
  if (err.code === grpc.status.UNAVAILABLE) {
    return new ApiUnreachableError(address, `cannot reach xlvsd at ${address}: ${err.details}`, { cause: err });
  }
  return new ApiCallError(err.code, `E_GRPC_${grpc.status[err.code]}`, err.details, { cause: err });
}

function decode<T>(method: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ApiResponseError(method, `malformed ${method} response: ${msg}`, { cause: err });
  }
}

/** Resolves once the channel is READY; rejects at the deadline or, unless `wait`, at the first failure. */
function waitReady(client: grpc.Client, deadline: number, wait: boolean): Promise<void> {
  const channel = client.getChannel();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const state = channel.getConnectivityState(true); // true: start connecting if idle
      if (state === grpc.connectivityState.READY) return resolve();
      if (state === grpc.connectivityState.TRANSIENT_FAILURE && !wait) {
        return reject(new Error('connection failed (is xlvsd running, and may this user open its socket?)'));
      }
      if (state === grpc.connectivityState.SHUTDOWN) return reject(new Error('channel closed'));
      channel.watchConnectivityState(state, deadline, (err?: Error) => {
        if (err) reject(new Error('timed out waiting for a connection', { cause: err }));
        else check();
      });
    };
    check();
  });
}

/**
 * The largest answer the client takes. grpc-js's default (4 MiB) is less than ListServices of
 * 10,000 services × 8 reals (4.6 MB): the daemon's answers grow with its config, which the
 * admin sized; requests to the daemon keep the server's limits.
 */
export const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/** Connects to xlvsd at a gRPC address ("unix:/run/xlvs/xlvsd.sock", "127.0.0.1:50051"). */
export async function connectApi(address: string, options: ConnectOptions = {}): Promise<ApiClient> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const callTimeoutMs = options.callTimeoutMs ?? 10000;
  const { Client } = loadXlvsProto();
  const client = new Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': MAX_ANSWER_BYTES });

  try {
    await waitReady(client, Date.now() + connectTimeoutMs, options.waitForDaemon ?? false);
  } catch (err) {
    client.close();
    const msg = err instanceof Error ? err.message : String(err);
    throw new ApiUnreachableError(address, `cannot reach xlvsd at ${address}: ${msg}`, { cause: err });
  }

  // Res is given at each call; the generated client checks it against the method's answer type.
  function call<Res>(method: string, start: StartCall<Res>): Promise<Res> {
    return new Promise((resolve, reject) => {
      start(new grpc.Metadata(), { deadline: Date.now() + callTimeoutMs }, (err, res) => {
        if (err) reject(fromServiceError(address, err));
        else if (res === undefined) reject(new ApiResponseError(method, `empty ${method} response`));
        else resolve(res);
      });
    });
  }

  /**
   * A server stream (no call deadline: it lasts until the returned function cancels it) of
   * messages decoded by `from`. A message that does not decode, the daemon's error and an end the
   * client did not ask for go to onError (`what` names the stream in the last).
   */
  function watch<W, E>(
    method: string,
    what: string,
    stream: grpc.ClientReadableStream<W>,
    from: (w: W) => E,
    listener: (e: E) => void,
    onError?: (err: Error) => void,
  ): () => void {
    let cancelled = false;
    stream.on('data', (w: W) => {
      let e: E;
      try {
        e = decode(method, () => from(w));
      } catch (err) {
        onError?.(err as Error);
        return;
      }
      listener(e);
    });
    let failed = false;
    stream.on('error', (err: grpc.ServiceError) => {
      failed = true;
      if (cancelled && err.code === grpc.status.CANCELLED) return; // our own cancel()
      const mapped = fromServiceError(address, err);
      if (onError) onError(mapped);
      else throw mapped;
    });
    stream.on('end', () => {
      // After an error grpc-js ends the stream too: that error was the news.
      if (!cancelled && !failed) onError?.(new ApiUnreachableError(address, `${what} ended by xlvsd at ${address}`));
    });
    return () => {
      cancelled = true;
      stream.cancel();
    };
  }

  return {
    address,
    close: () => client.close(),

    async listServices(): Promise<ServiceStatus[]> {
      const res = await call<ListServicesResponse__Output>('ListServices', (m, o, cb) => client.ListServices({}, m, o, cb));
      return decode('ListServices', () => res.services.map((s, i) => serviceStatusFromWire(s, `services[${i}]`)));
    },

    async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
      const req = { service: serviceKeyToWire(svc), real: realToWire(real) };
      await call('AddReal', (m, o, cb) => client.AddReal(req, m, o, cb));
    },

    async removeReal(svc: ServiceKey, address: string, port: number): Promise<void> {
      const req = { service: serviceKeyToWire(svc), address, port };
      await call('RemoveReal', (m, o, cb) => client.RemoveReal(req, m, o, cb));
    },

    async drops(): Promise<Record<string, bigint>> {
      const res = await call<GetDropsResponse__Output>('GetDrops', (m, o, cb) => client.GetDrops({}, m, o, cb));
      return decode('GetDrops', () => dropsFromWire(res.drops));
    },

    async listHealth(): Promise<HealthReport> {
      const res = await call<ListHealthResponse__Output>('ListHealth', (m, o, cb) => client.ListHealth({}, m, o, cb));
      return decode('ListHealth', () => healthReportFromWire(res));
    },

    async getCapabilities(): Promise<CapabilityReport> {
      const res = await call<GetCapabilitiesResponse__Output>('GetCapabilities', (m, o, cb) => client.GetCapabilities({}, m, o, cb));
      return decode('GetCapabilities', () => capabilitiesFromWire(res));
    },

    async listOverrides(): Promise<OverrideStatus[]> {
      const res = await call<ListOverridesResponse__Output>('ListOverrides', (m, o, cb) => client.ListOverrides({}, m, o, cb));
      return decode('ListOverrides', () => overridesFromWire(res.overrides, 'overrides'));
    },

    async clearOverrides(svc?: ServiceKey): Promise<OverrideStatus[]> {
      const req = svc === undefined ? {} : { service: serviceKeyToWire(svc) };
      const res = await call<ClearOverridesResponse__Output>('ClearOverrides', (m, o, cb) => client.ClearOverrides(req, m, o, cb));
      return decode('ClearOverrides', () => overridesFromWire(res.cleared, 'cleared'));
    },

    watchHealth(listener: (e: HealthEvent) => void, onError?: (err: Error) => void): () => void {
      return watch('WatchHealth', 'health watch', client.WatchHealth({}, new grpc.Metadata()), healthEventFromWire, listener, onError);
    },

    async haStatus(): Promise<HaStatus> {
      const res = await call<GetHaStatusResponse__Output>('GetHaStatus', (m, o, cb) => client.GetHaStatus({}, m, o, cb));
      return decode('GetHaStatus', () => haStatusFromWire(res.status));
    },

    watchHa(listener: (e: HaEvent) => void, onError?: (err: Error) => void): () => void {
      return watch('WatchHa', 'ha watch', client.WatchHa({}, new grpc.Metadata()), haEventFromWire, listener, onError);
    },

    async haFailover(): Promise<HaStatus> {
      const res = await call<HaFailoverResponse__Output>('HaFailover', (m, o, cb) => client.HaFailover({}, m, o, cb));
      return decode('HaFailover', () => haStatusFromWire(res.status));
    },

    async setHaHold(on: boolean): Promise<HaStatus> {
      const res = await call<SetHaHoldResponse__Output>('SetHaHold', (m, o, cb) => client.SetHaHold({ on }, m, o, cb));
      return decode('SetHaHold', () => haStatusFromWire(res.status));
    },
  };
}
