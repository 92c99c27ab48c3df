import { createHash } from 'node:crypto';
import { decodeFileHeader, MAX_CHUNKS } from '../crypto/files.ts';
import { TAG_BYTES } from '../crypto/primitives.ts';
import { BadRequestError } from '../errors.ts';

/**
 * The byte layout of an uploaded file, decided at create and enforced on every chunk:
 * header ‖ chunk₀ ‖ … ‖ chunkₙ₋₁, each chunk chunkSize+16 bytes except the last (16..chunkSize+16;
 * more than 16 unless the file is empty and n = 1).
 */
export interface FileLayout {
  chunkSize: number;
  chunkCount: number;
  headerBytes: number;
  storedSize: number;
}

/** Checks a client's create request against the header it sent; 400 on any inconsistency. */
export function checkLayout(p: {
  fileId: string;
  header: Uint8Array;
  chunkSize: number;
  chunkCount: number;
  storedSize: number;
}): FileLayout {
  let parsed: ReturnType<typeof decodeFileHeader>;
  try {
    parsed = decodeFileHeader(p.header);
  } catch (err) {
    throw new BadRequestError(`The file header is malformed: ${(err as Error).message}`);
  }
  if (parsed.length !== p.header.length)
    throw new BadRequestError('The file header has trailing bytes.');
  if (parsed.header.fileId !== p.fileId.toLowerCase()) {
    throw new BadRequestError('The file header names another file.');
  }
  if (parsed.header.chunkSize !== p.chunkSize) {
    throw new BadRequestError('chunkSize differs from the header.');
  }
  if (!Number.isSafeInteger(p.chunkCount) || p.chunkCount < 1 || p.chunkCount > MAX_CHUNKS) {
    throw new BadRequestError('chunkCount is out of range.');
  }
  const layout = {
    chunkSize: p.chunkSize,
    chunkCount: p.chunkCount,
    headerBytes: p.header.length,
    storedSize: p.storedSize,
  };
  const last = lastChunkBytes(layout);
  if (
    last < TAG_BYTES ||
    last > p.chunkSize + TAG_BYTES ||
    (p.chunkCount > 1 && last === TAG_BYTES)
  ) {
    throw new BadRequestError('ciphertextSize does not match chunkCount and chunkSize.');
  }
  return layout;
}

function lastChunkBytes(l: FileLayout): number {
  return l.storedSize - l.headerBytes - (l.chunkCount - 1) * (l.chunkSize + TAG_BYTES);
}

/** The exact size chunk `idx` must have. */
export function expectedChunkBytes(l: FileLayout, idx: number): number {
  return idx === l.chunkCount - 1 ? lastChunkBytes(l) : l.chunkSize + TAG_BYTES;
}

/**
 * Storage name of one chunk: unlinkable to the file (or to the other chunks) without the object
 * id, which only the database holds, sealed with the at-rest key.
 */
export function chunkBlobName(objectId: string, idx: number): string {
  return createHash('sha256').update(`${objectId}:${idx}`).digest('hex').slice(0, 32);
}
