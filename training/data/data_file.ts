/**
 * What the data-set readers share: their error class, reading a file with an error that names it, and the
 * check of labels against the number of classes at load time (a label out of range would otherwise index
 * past the logits inside a loss kernel, or train silently on the wrong classes).
 */
import { readFileSync } from 'node:fs';

/** A data-set file that is missing, truncated or not in its format; the message names the file. */
export class DataFileError extends Error {}

export function readDataFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataFileError(`${path}: ${code === 'ENOENT' ? `file not found (expected ${what})` : (e as Error).message}`);
  }
}

/**
 * Throws naming the file, the record and its byte offset when a label is not an integer in [0, classes).
 * Label i is at byte `first + i * stride` of the file.
 */
export function checkLabels(labels: ArrayLike<number>, classes: number, path: string, where: { first: number; stride: number; what: string }): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new DataFileError(`${path}: ${where.what} ${v} of record ${i} (byte offset ${where.first + i * where.stride}) is outside 0-${classes - 1} (${classes} classes)`);
    }
  }
}
