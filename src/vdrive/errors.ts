import { AppError, ConflictError } from '../errors.ts';

export class QuotaExceededError extends AppError {
  constructor(quotaBytes: number, usedBytes: number) {
    super(
      507,
      'quota-exceeded',
      'Insufficient storage',
      `This file would exceed your storage quota of ${quotaBytes} bytes (${usedBytes} used).`,
      { extra: { quotaBytes, usedBytes } },
    );
  }
}

export class ChunkOutOfRangeError extends AppError {
  constructor(chunkCount: number) {
    super(400, 'chunk-out-of-range', 'Bad request', `Chunk indices are 0..${chunkCount - 1}.`, {
      extra: { chunkCount },
    });
  }
}

export class BadChunkSizeError extends AppError {
  constructor(expected: number, got?: number) {
    super(
      400,
      'bad-chunk-size',
      'Bad request',
      `This chunk must be exactly ${expected} bytes${got === undefined ? '' : ` (got ${got})`}.`,
      { extra: { expectedBytes: expected } },
    );
  }
}

export function uploadComplete(): ConflictError {
  return new ConflictError('upload-complete', 'The upload is complete; its chunks cannot change.');
}

export function chunksMissing(missing: number[]): ConflictError {
  return new ConflictError(
    'chunks-missing',
    `${missing.length} chunk(s) are missing or have the wrong size.`,
    { missing: missing.slice(0, 1000) },
  );
}
