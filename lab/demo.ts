// SPDX-License-Identifier: Apache-2.0
// `make demo`: builds a namespace lab (client | router | three real servers),
// runs xlvsd with examples/lab.yaml in the router, sends requests to the VIP
// over new connections and shows how they spread and what xlvs counted.
// Everything it makes is removed at the end, also on failure.

import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Lab, removeStaleLabs } from './lab.js';
import { XlvsdProcess } from './xlvsd-process.js';
import { fromRoot } from '../src/paths.js';

const ROOT = fromRoot();
const REQUESTS = 300;

function bar(n: number, total: number): string {
  return '#'.repeat(Math.round((40 * n) / Math.max(1, total)));
}

async function main(): Promise<void> {
  process.env.XLVS_LOG_LEVEL ??= 'warn'; // the lab's own progress lines would bury the result
  await removeStaleLabs();
  const lab = await Lab.create();
  let xlvsd: XlvsdProcess | undefined;
  try {
    await lab.startRealServers();
    xlvsd = await XlvsdProcess.start(lab, { config: readFileSync(`${ROOT}/examples/lab.yaml`, 'utf8') });
    const vip = lab.addr.vip;
    console.log(`\nxlvsd is running in ${lab.ns.router} with examples/lab.yaml; VIP ${vip}.`);

    console.log(`\n${REQUESTS} HTTP requests to http://${vip}/, each on a new TCP connection (scheduler rr):`);
    const http = await lab.client('http', ['--host', vip, '--port', '80', '--count', String(REQUESTS)]);
    for (const [name, n] of Object.entries(http.counts).sort()) console.log(`  ${name}  ${String(n).padStart(4)}  ${bar(n, REQUESTS)}`);
    console.log(`  errors ${http.errors}`);

    console.log(`\n30 UDP requests to ${vip}:5353, each from a new source port:`);
    const udp = await lab.client('udp', ['--host', vip, '--port', '5353', '--count', '30']);
    console.log(`  ${Object.entries(udp.counts).sort().map(([k, v]) => `${k}=${v}`).join('  ')}  errors=${udp.errors}`);

    const bulk = await lab.client('bulk', ['--host', vip, '--port', '9000', '--bytes', String(5_000_000)]);
    console.log(`\n5 MB over one connection to ${vip}:9000: ${bulk.ok ? 'intact' : 'CORRUPT'} (sha256 ${bulk.sha256.slice(0, 16)}…, ${bulk.ms} ms)`);

    console.log('\nLive counters (xlvsctl list):\n');
    const out = execFileSync(process.execPath, [`${ROOT}/dist/src/cli/xlvsctl.js`, '--socket', xlvsd.socket, 'list'], { encoding: 'utf8' });
    console.log(out.replace(/^/gm, '  '));
    if (http.errors > 0 || udp.errors > 0 || !bulk.ok) throw new Error('the demo saw errors');
  } finally {
    await xlvsd?.destroy();
    await lab.destroy();
  }
  console.log('Lab removed.');
}

main().catch((e) => {
  console.error(`demo failed: ${e?.message ?? e}`);
  process.exit(1);
});
