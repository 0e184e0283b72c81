// SPDX-License-Identifier: Apache-2.0
// One benchmark XDP program loaded from its object, pinned under a pin dir of its own and
// attached (native XDP) to a device of a lab namespace: what the count-and-drop sink and the
// frame recorder share. close() detaches it and removes the pins.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BpfObject } from '../../src/kernel/object.js';
import type { Layout } from '../../src/kernel/btf-check.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { nsArgv, run } from '../../lab/proc.js';
import { InvalidArgumentError } from '../../src/errors.js';

export class PinnedXdp {
  private attached: { ns: string; dev: string } | undefined;

  private constructor(readonly obj: BpfObject, private readonly pinDir: string, readonly program: string) {}

  /**
   * Loads `object` and pins `program` under /sys/fs/bpf/xlvs-bench-<what>-*; `use` reads the
   * loaded object (its maps) and may throw: then nothing is left behind. `layout`: the structs
   * the caller's codecs assume, checked against the object's BTF first.
   */
  static load<T>(object: string, program: string, what: string, layout: Layout, use: (p: PinnedXdp) => T): T {
    const pinDir = `/sys/fs/bpf/xlvs-bench-${what}-${process.pid}-${randomBytes(3).toString('hex')}`;
    ensureBpffs(pinDir);
    const obj = BpfObject.open(object, { pinRoot: pinDir });
    try {
      obj.verifyAbi(layout);
      obj.load();
      obj.pinProgram(program, join(pinDir, 'prog'));
      return use(new PinnedXdp(obj, pinDir, program));
    } catch (e) {
      obj.close();
      unpin(pinDir);
      throw e;
    }
  }

  get progFd(): number {
    return this.obj.programFd(this.program);
  }

  /** Attaches (native XDP, replacing whatever is attached) to dev in the named namespace. */
  async attach(ns: string, dev: string): Promise<void> {
    if (this.attached !== undefined) throw new InvalidArgumentError('attach', `${ns}:${dev}`, `${this.program} is attached to ${this.attached.ns}:${this.attached.dev} already`);
    // nsenter, not `ip -n`: that remounts /sys in its namespace and would not see our bpffs pin.
    await run(nsArgv(ns, ['ip', '-force', 'link', 'set', 'dev', dev, 'xdpdrv', 'pinned', join(this.pinDir, 'prog')]));
    this.attached = { ns, dev };
  }

  async detach(): Promise<void> {
    const a = this.attached;
    if (a === undefined) return;
    this.attached = undefined;
    await run(nsArgv(a.ns, ['ip', 'link', 'set', 'dev', a.dev, 'xdpdrv', 'off']));
  }

  /** Detaches (if attached), closes the object and removes the pins. */
  async close(): Promise<void> {
    try {
      await this.detach();
    } finally {
      this.obj.close();
      unpin(this.pinDir);
    }
  }
}
