// SPDX-License-Identifier: Apache-2.0
// A typed client for xlvs.v1.Xlvs that speaks model types, so callers (xlvsctl, integration
// tests) never see wire shapes. It implements ControlApi: anything written against the daemon's
// interface can be pointed at a remote daemon instead.

import * as grpc from '@grpc/grpc-js';
import { XlvsError } from '../errors.js';
import type { ControlApi, RealSpec, ServiceKey, ServiceStatus } from '../model/types.js';
import { dropsFromWire, realToWire, serviceKeyToWire, serviceStatusFromWire } from './convert.js';
import { healthEventFromWire, healthReportFromWire } from './convert-health.js';
import { capabilitiesFromWire } from './convert-capabilities.js';
import type { CapabilityReport } from '../host/capabilities.js';
import type { HealthEvent, HealthReport } from '../health/report.js';
import { loadXlvsProto } from './proto.js';
import { ERROR_CODE_METADATA_KEY } from './status.js';
import type {
  ListHealthRequest,
  ListHealthResponse,
  GetCapabilitiesRequest,
  GetCapabilitiesResponse,
  WatchHealthRequest,
  WireHealthEvent,
  AddRealRequest,
  AddRealResponse,
  GetDropsRequest,
  GetDropsResponse,
  ListServicesRequest,
  ListServicesResponse,
  RemoveRealRequest,
  RemoveRealResponse,
} from './wire.js';

/** xlvs code when the daemon cannot be reached at all. */
export const UNREACHABLE_ERROR_CODE = 'E_API_UNREACHABLE';
/** xlvs code when the daemon's answer cannot be turned into model types (version skew?). */
export const BAD_RESPONSE_ERROR_CODE = 'E_API_RESPONSE';

/**
 * A call failed. `code` is the daemon's xlvs code (from the `xlvs-error-code` trailer) when it
 * sent one, otherwise "E_GRPC_<STATUS>" or one of the codes above; `grpcCode` is the gRPC status.
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

type StreamMethod<Req, Res> = (req: Req, metadata: grpc.Metadata) => grpc.ClientReadableStream<Res>;

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

function fromServiceError(address: string, err: grpc.ServiceError): ApiCallError {
  const sent = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  if (typeof sent === 'string') return new ApiCallError(err.code, sent, err.details, { cause: err });
  // UNAVAILABLE without our trailer means the transport failed, not the daemon. (A missed
  // deadline is not the same thing: the daemon may be alive but slow, so it keeps its gRPC code.)
  if (err.code === grpc.status.UNAVAILABLE) {
    return new ApiCallError(err.code, UNREACHABLE_ERROR_CODE, `cannot reach xlvsd at ${address}: ${err.details}`, {
      cause: err,
    });
  }
  return new ApiCallError(err.code, `E_GRPC_${grpc.status[err.code]}`, err.details, { cause: err });
}

function decode<T>(method: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ApiCallError(grpc.status.INTERNAL, BAD_RESPONSE_ERROR_CODE, `malformed ${method} response: ${msg}`, {
      cause: err,
    });
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
    throw new ApiCallError(grpc.status.UNAVAILABLE, UNREACHABLE_ERROR_CODE, `cannot reach xlvsd at ${address}: ${msg}`, {
      cause: err,
    });
  }

  function call<Req, Res>(method: string, req: Req): Promise<Res> {
    const fn = client[method] as UnaryMethod<Req, Res>;
    return new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + callTimeoutMs }, (err, res) => {
        if (err) reject(fromServiceError(address, err));
        else if (res === undefined) reject(new ApiCallError(grpc.status.INTERNAL, BAD_RESPONSE_ERROR_CODE, `empty ${method} response`));
        else resolve(res);
      });
    });
  }

  return {
    address,
    close: () => client.close(),

    async listServices(): Promise<ServiceStatus[]> {
      const res = await call<ListServicesRequest, ListServicesResponse>('ListServices', {});
      return decode('ListServices', () => res.services.map((s, i) => serviceStatusFromWire(s, `services[${i}]`)));
    },

    async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
      await call<AddRealRequest, AddRealResponse>('AddReal', { service: serviceKeyToWire(svc), real: realToWire(real) });
    },

    async removeReal(svc: ServiceKey, address: string, port: number): Promise<void> {
      await call<RemoveRealRequest, RemoveRealResponse>('RemoveReal', { service: serviceKeyToWire(svc), address, port });
    },

    async drops(): Promise<Record<string, bigint>> {
      const res = await call<GetDropsRequest, GetDropsResponse>('GetDrops', {});
      return decode('GetDrops', () => dropsFromWire(res.drops));
    },

    async listHealth(): Promise<HealthReport> {
      const res = await call<ListHealthRequest, ListHealthResponse>('ListHealth', {});
      return decode('ListHealth', () => healthReportFromWire(res));
    },

    async getCapabilities(): Promise<CapabilityReport> {
      const res = await call<GetCapabilitiesRequest, GetCapabilitiesResponse>('GetCapabilities', {});
      return decode('GetCapabilities', () => capabilitiesFromWire(res));
    },

    watchHealth(listener: (e: HealthEvent) => void, onError?: (err: Error) => void): () => void {
      // A stream, so no call deadline: it lasts until the returned function cancels it.
      const stream = (client.WatchHealth as StreamMethod<WatchHealthRequest, WireHealthEvent>).call(client, {}, new grpc.Metadata());
      let cancelled = false;
      stream.on('data', (w: WireHealthEvent) => {
        let e: HealthEvent;
        try {
          e = decode('WatchHealth', () => healthEventFromWire(w));
        } catch (err) {
          onError?.(err as Error);
          return;
        }
        listener(e);
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (cancelled && err.code === grpc.status.CANCELLED) return; // our own cancel()
        const mapped = fromServiceError(address, err);
        if (onError) onError(mapped);
        else throw mapped;
      });
      stream.on('end', () => {
        if (!cancelled) onError?.(new ApiCallError(grpc.status.UNAVAILABLE, UNREACHABLE_ERROR_CODE, `health watch ended by xlvsd at ${address}`));
      });
      return () => {
        cancelled = true;
        stream.cancel();
      };
    },
  };
}
