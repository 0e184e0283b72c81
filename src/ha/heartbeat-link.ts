// SPDX-License-Identifier: Apache-2.0
// The heartbeat's two UDP sockets, one on each network: bound to this router's own address there
// and sending to the peer's address on the same network, so either path alone keeps the peer
// alive and a cut of one network shows as that path going silent. Datagrams from any other
// source address are not even decoded (counted as from an unknown peer). Messages are bounded
// (MAX_DATAGRAM) before anything else looks at them.

import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from '../model/ip.js';
import type { HaPath } from './types.js';

export const MAX_DATAGRAM = 256;

export interface PathEndpoints {
  path: HaPath;
  local: string;
  peer: string;
}

export interface HeartbeatLinkOptions {
  port: number;
  paths: PathEndpoints[];
  /** A datagram from the peer's address on `path` (not yet verified). */
  onMessage: (buf: Buffer, path: HaPath) => void;
  /** A datagram from anywhere else, or too long. */
  onStray: (why: 'unknownPeer' | 'malformed', path: HaPath, from: string) => void;
  /** A socket error after start (sending goes on on the other path). */
  onError: (e: Error, path: HaPath) => void;
}

export class HeartbeatLink {
  private readonly sockets = new Map<HaPath, { socket: Socket; peer: string }>();

  private constructor(private readonly o: HeartbeatLinkOptions) {}

  /** Binds both sockets; rejects (closing what was opened) when one cannot be bound. */
  static async open(o: HeartbeatLinkOptions): Promise<HeartbeatLink> {
    const link = new HeartbeatLink(o);
    try {
      for (const p of o.paths) await link.bind(p);
    } catch (e) {
      link.close();
      throw e;
    }
    return link;
  }

  private bind(p: PathEndpoints): Promise<void> {
    const socket = createSocket({ type: isIPv4(p.local) ? 'udp4' : 'udp6', reuseAddr: true });
    this.sockets.set(p.path, { socket, peer: p.peer });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: this.o.port, address: p.local, exclusive: true }, () => {
        socket.off('error', reject);
        socket.on('error', (e) => this.o.onError(e, p.path));
        socket.on('message', (buf, rinfo) => {
          if (rinfo.address !== p.peer) this.o.onStray('unknownPeer', p.path, rinfo.address);
          else if (buf.length > MAX_DATAGRAM) this.o.onStray('malformed', p.path, rinfo.address);
          else this.o.onMessage(buf, p.path);
        });
        resolve();
      });
    });
  }

  /** Sends a message (built for each path) on every path; a path's failure is reported, the others still get theirs. */
  send(build: (path: HaPath) => Buffer): void {
    for (const [path, { socket, peer }] of this.sockets) {
      const buf = build(path);
      socket.send(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), this.o.port, peer, (e) => {
        if (e) this.o.onError(e, path);
      });
    }
  }

  /** Sends on every path and resolves once each socket has handed it to the kernel (a goodbye before exit). */
  async sendAndWait(build: (path: HaPath) => Buffer): Promise<void> {
    await Promise.all(
      [...this.sockets].map(
        ([path, { socket, peer }]) =>
          new Promise<void>((resolve) => {
            const buf = build(path);
            socket.send(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), this.o.port, peer, (e) => {
              if (e) this.o.onError(e, path);
              resolve();
            });
          }),
      ),
    );
  }

  close(): void {
    for (const { socket } of this.sockets.values()) socket.close();
    this.sockets.clear();
  }
}
