import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors, SafetensorsError, type StTensor } from '../../nn/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'st-'));

/** A file written by hand from the format's definition, independent of our writer. */
function handMade(): Buffer {
  const header = JSON.stringify({ __metadata__: { format: 'pt' }, 'a.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, n: { dtype: 'I64', shape: [], data_offsets: [8, 16] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.alloc(16);
  data.writeFloatLE(1.5, 0);
  data.writeFloatLE(-2, 4);
  data.writeBigInt64LE(7n, 8);
  return Buffer.concat([len, Buffer.from(header), data]);
}

describe('safetensors', () => {
  it('reads a file made from the format definition', () => {
    const f = join(dir, 'hand.safetensors');
    writeFileSync(f, handMade());
    const { tensors, metadata } = readSafetensors(f);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.get('a.weight')!.data]).toEqual([1.5, -2]);
    expect(tensors.get('n')!.dtype).toBe('I64');
    expect([...tensors.get('n')!.data]).toEqual([7]);
  });

  it('round-trips bit-exactly, keeping order and metadata, through a temporary file', () => {
    const f = join(dir, 'rt.safetensors');
    const t: [string, StTensor][] = [
      ['conv.weight', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([0.1, -0, 1e-38, 3.4e38, Math.PI, -7]) }],
      ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: Int32Array.from([12]) }],
    ];
    writeSafetensors(f, t, { epoch: '3' });
    const back = readSafetensors(f);
    expect([...back.tensors.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked']);
    expect(Buffer.from((back.tensors.get('conv.weight')!.data as Float32Array).buffer)).toEqual(Buffer.from(t[0]![1].data.buffer));
    expect(back.metadata).toEqual({ epoch: '3' });
    // The header is padded so the data starts 8-byte aligned, and no temporary file is left behind.
    expect(Number(readFileSync(f).readBigUInt64LE(0)) % 8).toBe(0);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('refuses truncated and corrupt files naming the byte offset or tensor', () => {
    const good = handMade();
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, good.subarray(0, good.length - 4));
    expect(() => readSafetensors(cut)).toThrow(/truncated: tensor 'n' ends at byte offset \d+ but the file has \d+ bytes/);
    const head = join(dir, 'head.safetensors');
    writeFileSync(head, good.subarray(0, 20));
    expect(() => readSafetensors(head)).toThrow(/truncated: the header claims \d+ bytes from byte offset 8/);
    const junk = join(dir, 'junk.safetensors');
    const j = Buffer.from(good);
    j[8] = 0x78; // the JSON header no longer starts with '{'
    writeFileSync(junk, j);
    expect(() => readSafetensors(junk)).toThrow(SafetensorsError);
    expect(() => readSafetensors(junk)).toThrow(/corrupt header \(bytes 8-/);
    expect(() => readSafetensors(join(dir, 'none.safetensors'))).toThrow(/file not found/);
  });

  it('a failed write leaves the previous file intact', () => {
    const f = join(dir, 'keep.safetensors');
    writeSafetensors(f, [['x', { dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]]);
    expect(() => writeSafetensors(f, [['x', { dtype: 'F32', shape: [3], data: Float32Array.from([1]) }]])).toThrow(/needs 3 values/);
    expect([...readSafetensors(f).tensors.get('x')!.data]).toEqual([1]);
    expect(existsSync(f)).toBe(true);
  });
});
