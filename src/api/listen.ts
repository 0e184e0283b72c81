// SPDX-License-Identifier: Apache-2.0
// Where the API server listens: a gRPC address, either a unix socket (the default, guarded by
// file permissions) or host:port. For unix sockets the path must be made ready before binding:
// the parent dir may not exist yet (/run is a tmpfs) and a daemon that died leaves its socket
// file behind, which would make bind fail with EADDRINUSE.

import { lstat, mkdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { InvalidArgumentError, XlvsError } from '../errors.js';

export type ListenTarget = { kind: 'unix'; path: string } | { kind: 'tcp'; hostPort: string };

/** The listen address cannot be prepared or bound; `address` is the path or address concerned. */
export class ListenError extends XlvsError {
  constructor(readonly address: string, message: string, options?: { cause?: unknown }) {
    super('E_API_LISTEN', message, options);
  }
}

/**
 * Accepts the forms grpc-js resolves: "unix:PATH" and "unix:///ABSOLUTE/PATH", or
 * "HOST:PORT" / "[V6]:PORT". "unix://authority/..." is refused: grpc would read the
 * authority as part of a relative path, which is never what was meant.
 */
export function parseListenAddress(listen: string): ListenTarget {
  if (listen.startsWith('unix:')) {
    let path: string;
    if (listen.startsWith('unix:///')) path = listen.slice('unix://'.length);
    else if (listen.startsWith('unix://')) {
      throw new InvalidArgumentError('listen', listen, 'must be unix:PATH or unix:///ABSOLUTE/PATH');
    } else path = listen.slice('unix:'.length);
    if (path === '') throw new InvalidArgumentError('listen', listen, 'unix socket path is empty');
    return { kind: 'unix', path };
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):[0-9]+$/.test(listen)) {
    throw new InvalidArgumentError('listen', listen, 'must be unix:PATH or HOST:PORT');
  }
  return { kind: 'tcp', hostPort: listen };
}

/** True when nothing but this host can reach a TCP listen address. */
export function isLoopbackHostPort(hostPort: string): boolean {
  const host = hostPort.slice(0, hostPort.lastIndexOf(':'));
  return host === 'localhost' || host === '[::1]' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/** Resolves true if something accepts connections on the socket, false on ECONNREFUSED. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      sock.destroy();
      if (err.code === 'ECONNREFUSED') resolve(false);
      else reject(err);
    });
  });
}

/**
 * Creates the socket's parent dir and removes a stale socket file. Refuses to remove a path
 * that is not a socket, or a socket another process is still serving on (a second daemon
 * must not silently steal the first one's API).
 */
export async function prepareUnixSocket(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing to clean up
    throw err;
  }
  if (!isSocket) {
    throw new ListenError(path, `${path} exists and is not a socket; refusing to remove it`);
  }
  if (await socketIsLive(path)) {
    throw new ListenError(path, `${path} is in use by another process (is xlvsd already running?)`);
  }
  await rm(path, { force: true });
}
