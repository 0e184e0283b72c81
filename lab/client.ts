// SPDX-License-Identifier: Apache-2.0
// The lab's traffic client, run inside a namespace by the lab:
//
//   node client.js http --host H --port P --count N [--concurrency C] [--timeout-ms T] [--request-timeout-ms R]
//   node client.js udp  --host H --port P --count N [--concurrency C] [--timeout-ms T] [--request-timeout-ms R]
//   node client.js bulk --host H --port P --bytes N [--seed S] [--timeout-ms T]
//   node client.js hold --host H --port P --interval-ms I --duration-ms D [--connect-timeout-ms C]
//   node client.js udp-rate --host H --port P --rate R --duration-ms D   (one flow, R datagrams a second)
//
// Prints its result as one JSON object per line on stdout (hold prints one per reply, then a
// final one). A result with errors in it still exits 0; exit 1 means no result (`{"error":...}`).

import { intFlag, parseFlags, requireString, type FlagSpec } from './flags.js';
import { tally } from './client-tally.js';
import { httpOnce } from './client-http.js';
import { udpOnce } from './client-udp.js';
import { bulk, hold } from './client-stream.js';
import { udpRate } from './client-udp-rate.js';
import { DEFAULT_BULK_SEED } from './pattern.js';

const DEFAULT_TOTAL_TIMEOUT_MS = 30_000;
const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_UDP_REQUEST_TIMEOUT_MS = 1_000;

const ENDPOINT: FlagSpec = { host: 'string', port: 'int' };
const EXCHANGES: FlagSpec = { ...ENDPOINT, count: 'int', concurrency: 'int', 'timeout-ms': 'int', 'request-timeout-ms': 'int' };

function print(obj: unknown): void {
  // stdout is a pipe when the lab runs us; pipe writes are synchronous on Linux, so nothing is
  // lost if we exit right after.
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [mode, ...rest] = argv;
  switch (mode) {
    case 'http':
    case 'udp': {
      const f = parseFlags(rest, EXCHANGES);
      const host = requireString(f, 'host');
      const port = intFlag(f, 'port');
      const perRequest = intFlag(f, 'request-timeout-ms', mode === 'http' ? DEFAULT_HTTP_REQUEST_TIMEOUT_MS : DEFAULT_UDP_REQUEST_TIMEOUT_MS);
      const once = mode === 'http' ? httpOnce : udpOnce;
      print(await tally(intFlag(f, 'count'), intFlag(f, 'concurrency', 1), intFlag(f, 'timeout-ms', DEFAULT_TOTAL_TIMEOUT_MS), (signal) => once(host, port, perRequest, signal)));
      return 0;
    }
    case 'bulk': {
      const f = parseFlags(rest, { ...ENDPOINT, bytes: 'int', seed: 'string', 'timeout-ms': 'int' });
      const seed = typeof f.seed === 'string' ? f.seed : DEFAULT_BULK_SEED;
      print(await bulk(requireString(f, 'host'), intFlag(f, 'port'), intFlag(f, 'bytes'), intFlag(f, 'timeout-ms', DEFAULT_TOTAL_TIMEOUT_MS), seed));
      return 0;
    }
    case 'hold': {
      const f = parseFlags(rest, { ...ENDPOINT, 'interval-ms': 'int', 'duration-ms': 'int', 'connect-timeout-ms': 'int' });
      const session = hold(
        {
          host: requireString(f, 'host'),
          port: intFlag(f, 'port'),
          intervalMs: Math.max(1, intFlag(f, 'interval-ms', 100)),
          durationMs: intFlag(f, 'duration-ms'),
          connectTimeoutMs: intFlag(f, 'connect-timeout-ms', 5_000),
        },
        print,
      );
      // The lab stops a hold early with SIGTERM; answer with the normal summary line.
      process.once('SIGTERM', session.stop);
      process.once('SIGINT', session.stop);
      const last = await session.result;
      return 'error' in last ? 1 : 0;
    }
    case 'udp-rate': {
      const f = parseFlags(rest, { ...ENDPOINT, rate: 'int', 'duration-ms': 'int' });
      print(await udpRate(requireString(f, 'host'), intFlag(f, 'port'), intFlag(f, 'rate'), intFlag(f, 'duration-ms')));
      return 0;
    }
    default:
      throw new Error(`unknown mode ${JSON.stringify(mode)}; expected http, udp, bulk, hold or udp-rate`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    print({ error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
