// SPDX-License-Identifier: Apache-2.0
// What the fuzz oracle found, by check: how many frames broke each check and the first of them
// (index, how it was made, input and output bytes, what was expected). The run goes on after a
// failure, so one run reports every check that fails, not just the first.

export interface Finding {
  check: string;
  count: number;
  first: { frame: number; made: string; detail: string; input: string; output: string };
}

export class FuzzFindings {
  private readonly byCheck = new Map<string, Finding>();

  /**
   * Records a failure of `check` at frame `frame`; how the frame was made, the detail and the bytes
   * are only taken for the first one (pass functions where building them costs).
   */
  fail(check: string, frame: number, made: string | (() => string), detail: string | (() => string), input?: Buffer, inLen?: number, output?: Buffer, outLen?: number): void {
    const f = this.byCheck.get(check);
    if (f !== undefined) {
      f.count++;
      return;
    }
    const hex = (b?: Buffer, n?: number): string => (b === undefined ? '' : b.toString('hex', 0, n ?? b.length));
    const text = (x: string | (() => string)): string => (typeof x === 'string' ? x : x());
    this.byCheck.set(check, { check, count: 1, first: { frame, made: text(made), detail: text(detail), input: hex(input, inLen), output: hex(output, outLen) } });
  }

  get list(): Finding[] {
    return [...this.byCheck.values()].sort((a, b) => a.check.localeCompare(b.check));
  }

  /** One block per failed check, for the test's output and its failure message. */
  report(seed: number): string {
    return this.list.map((f) => [
      `CHECK ${f.check}: ${f.count} failure(s); first at seed ${seed} frame #${f.first.frame} (${f.first.made}): ${f.first.detail}`,
      f.first.input === '' ? '' : `    input  ${f.first.input}`,
      f.first.output === '' ? '' : `    output ${f.first.output}`,
    ].filter((l) => l !== '').join('\n')).join('\n');
  }
}
