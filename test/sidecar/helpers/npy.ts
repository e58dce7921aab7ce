// Minimal .npy reader for the golden logits (float32, C order, format v1/v2/v3).
import { readFileSync } from 'node:fs';

export function readNpyFloat32(file: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file} is not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True"))
    throw new Error(`${file}: expected little-endian float32, C order`);
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const offset = start + headerLen;
  const data = new Float32Array(
    buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + buf.length),
  );
  return { shape, data };
}
