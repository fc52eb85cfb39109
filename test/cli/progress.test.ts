/** The progress bar (cli/progress.ts): a line per tenth off a terminal, however fast the updates; rate and ETA. */
import { describe, expect, it } from 'vitest';
import { Progress, fmtSecs } from '../../cli/progress.js';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (s: string) => { out.push(s); return true; } } as unknown as NodeJS.WriteStream };
}

describe('Progress', () => {
  it('off a terminal writes one line per tenth of the way, even for updates faster than the redraw interval', () => {
    const s = sink(false);
    const bar = new Progress('epoch 0', 95, 'step', s.stream);
    for (let i = 1; i <= 95; i++) bar.update(i, `loss ${(1 / i).toFixed(3)}`);
    expect(s.out.length).toBe(10);
    expect(s.out[0]).toMatch(/^epoch 0 \[###\.+\] 10\/95 .* step\/s ETA .*loss 0\.100\n$/);
    expect(s.out[9]).toMatch(/^epoch 0 \[#{24}\] 95\/95 .*ETA \S+ {2}loss 0\.011\n$/);
  });

  it('on a terminal redraws in place and ends the line when done', () => {
    const s = sink(true);
    const bar = new Progress('pgd-20', 4, 'img', s.stream);
    bar.update(1);
    bar.update(4);
    expect(s.out[0]!.startsWith('\rpgd-20 [######')).toBe(true);
    expect(s.out.at(-1)!.endsWith('\x1b[K\n')).toBe(true);
  });

  it('formats seconds as s or m:ss', () => {
    expect([fmtSecs(5.2), fmtSecs(125), fmtSecs(Infinity), fmtSecs(119.7), fmtSecs(59.6)]).toEqual(['5s', '2m05s', '?', '2m00s', '1m00s']);
  });
});
