import { spawnSync } from 'node:child_process';
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

  /** A file with the given header object (or raw header text) and data section. */
  function craft(name: string, header: unknown, data: Buffer, headerLen?: bigint): string {
    const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(headerLen ?? BigInt(json.length));
    const f = join(dir, name);
    writeFileSync(f, Buffer.concat([len, json, data]));
    return f;
  }
  const f32 = (offs: unknown, shape: unknown = [2]) => ({ dtype: 'F32', shape, data_offsets: offs });

  it.each([
    ['a negative offset', { a: f32([-8, 0]) }, 8, /tensor 'a': data_offsets must be two non-negative integers \[begin, end\], got \[-8,0\]/],
    ['a fractional offset', { a: f32([0.5, 8.5]) }, 9, /tensor 'a': data_offsets must be two non-negative integers/],
    ['three offsets', { a: f32([0, 8, 8]) }, 8, /tensor 'a': data_offsets must be two/],
    ['begin after end', { a: f32([8, 0]) }, 8, /tensor 'a': data_offsets \[8, 0\] begin after they end/],
    ['overlapping tensors', { a: f32([0, 8]), b: f32([4, 12]) }, 12, /tensor 'b': data_offsets \[4, 12\] overlap another tensor's bytes/],
    ['a hole between tensors', { a: f32([0, 8]), b: f32([12, 20]) }, 20, /bytes 8-12 of the data section .* belong to no tensor \(before tensor 'b'\)/],
    ['bytes after the last tensor', { a: f32([0, 8]) }, 12, /4 bytes after the last tensor .* belong to no tensor/],
    ['a region outside the data section', { a: f32([0, 16], [4]) }, 8, /truncated: tensor 'a' ends at byte offset \d+ but the file has \d+ bytes/],
    ['a negative dimension', { a: f32([0, 8], [-2]) }, 8, /tensor 'a': shape must be an array of non-negative integers, got \[-2\]/],
    ['a fractional dimension', { a: f32([0, 8], [2.5]) }, 8, /tensor 'a': shape must be an array of non-negative integers/],
    ['a huge shape', { a: f32([0, 8], [2 ** 40, 2 ** 40]) }, 8, /tensor 'a' \[1099511627776, 1099511627776\] F32 needs about 4\.836e\+24 bytes/],
    ['a shape that disagrees with the offsets', { a: f32([0, 8], [3]) }, 8, /tensor 'a' \[3\] F32 needs 12 bytes, its data_offsets \[0, 8\] span 8/],
    ['a null entry', { a: null }, 0, /tensor 'a': expected \{dtype, shape, data_offsets\}, got null/],
    ['an entry that is a number', { a: 3 }, 0, /tensor 'a': expected \{dtype, shape, data_offsets\}, got 3/],
    ['an entry that is an array', { a: [] }, 0, /tensor 'a': expected \{dtype, shape, data_offsets\}/],
    ['an unknown field in an entry', { a: { ...f32([0, 8]), offsets: [0, 8] } }, 8, /tensor 'a': unknown field 'offsets'/],
    ['an unknown dtype', { a: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, 8, /tensor 'a': unsupported dtype "F8_E4M3"/],
    ['an inherited name as dtype', { a: { dtype: 'toString', shape: [8], data_offsets: [0, 8] } }, 8, /tensor 'a': unsupported dtype "toString"/],
    ['__metadata__ a string', { __metadata__: 'pt', a: f32([0, 8]) }, 8, /__metadata__ must be an object of strings, got "pt"/],
    ['__metadata__ null', { __metadata__: null }, 0, /__metadata__ must be an object of strings, got null/],
    ['__metadata__ with a number', { __metadata__: { epoch: 3 } }, 0, /__metadata__\.epoch must be a string, got 3/],
    ['a header that is an array', '[1, 2]', 0, /must start with '\{'/],
    ['a header that is not an object', '{"a": 1} x', 0, /corrupt header/],
  ])('refuses %s, naming the file and the tensor', (_, header, dataLen, msg) => {
    const f = craft('bad-header.safetensors', header, Buffer.alloc(dataLen));
    expect(() => readSafetensors(f)).toThrow(SafetensorsError);
    expect(() => readSafetensors(f)).toThrow(msg);
    expect(() => readSafetensors(f)).toThrow(f);
  });

  it('refuses a header length larger than the file and invalid UTF-8, before parsing', () => {
    const huge = craft('huge.safetensors', { a: f32([0, 8]) }, Buffer.alloc(8), 2n ** 63n);
    expect(() => readSafetensors(huge)).toThrow(/truncated: the header claims 9223372036854775808 bytes from byte offset 8 but the file has \d+ bytes/);
    const utf = craft('utf.safetensors', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), Buffer.alloc(0));
    writeFileSync(utf, Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]));
    expect(() => readSafetensors(utf)).toThrow(/corrupt header \(bytes 8-12\)/);
  });

  it('accepts empty tensors and scalars, which share or take no bytes', () => {
    const f = craft('empty.safetensors', { e: f32([0, 0], [0, 3]), z: f32([0, 0], [4, 0]), s: f32([0, 4], []) }, Buffer.alloc(4));
    const t = readSafetensors(f).tensors;
    expect(t.get('e')!.data.length).toBe(0);
    expect(t.get('z')!.shape).toEqual([4, 0]);
    expect(t.get('s')!.data.length).toBe(1);
  });

  it('an int64 beyond int32 is refused naming the tensor and the element, not wrapped', () => {
    const data = Buffer.alloc(16);
    data.writeBigInt64LE(3n, 0);
    data.writeBigInt64LE(2n ** 31n, 8);
    const f = craft('i64.safetensors', { labels: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data);
    expect(() => readSafetensors(f)).toThrow(/tensor 'labels' element 1 = 2147483648 does not fit in int32/);
  });

  it('the next save to a target removes the temporary files that killed saves to it left, and only those', () => {
    const sub = mkdtempSync(join(dir, 'tmp-'));
    const f = join(sub, 'model.safetensors');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = [`${f}.tmp-${dead}-0`, `${f}.tmp-${dead}-17`, `${f}.tmp-${dead}`, `${f}.tmp-${process.pid}-999`];
    const kept = [`${f}.tmp-${process.ppid}-0`, join(sub, `other.safetensors.tmp-${dead}-0`), `${f}.tmp-notes`];
    for (const p of [...stale, ...kept]) writeFileSync(p, 'half a checkpoint');
    writeSafetensors(f, [['x', { dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]]);
    expect(readdirSync(sub).sort()).toEqual(['model.safetensors', ...kept.map((p) => p.slice(sub.length + 1))].sort());
  });
});
