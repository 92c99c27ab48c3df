/**
 * Node-only parts of the drive SDK: files on disk. Kept apart from `drive.ts` so the browser
 * bundle never pulls in `node:fs`.
 */
import { randomBytes } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { DriveClient, DriveFile, UploadOptions } from './drive.ts';

/** Uploads a file from disk (read in chunk-sized slices, never whole). */
export async function uploadFile(
  drive: DriveClient,
  filePath: string,
  opts: Partial<UploadOptions> = {},
): Promise<DriveFile> {
  const s = await stat(filePath);
  const blob = await openAsBlob(filePath);
  return drive.upload(blob, {
    name: path.basename(filePath),
    modifiedAt: Math.floor(s.mtimeMs),
    ...opts,
  });
}

export async function resumeFile(
  drive: DriveClient,
  fileId: string,
  filePath: string,
  opts: Omit<UploadOptions, 'name'> = {},
): Promise<DriveFile> {
  return drive.resume(fileId, await openAsBlob(filePath), opts);
}

/**
 * Writes a decrypting stream to `target` through a temporary name beside it, renamed only after
 * the final chunk verified: a tampered or truncated file never appears under its name.
 */
export async function writeVerified(
  stream: ReadableStream<Uint8Array>,
  target: string,
): Promise<void> {
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(6).toString('hex')}.part`,
  );
  const fh = await open(tmp, 'wx', 0o600);
  try {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let off = 0;
      while (off < value.length) off += (await fh.write(value, off)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, target);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export async function downloadToFile(
  drive: DriveClient,
  fileId: string,
  target: string,
): Promise<void> {
  await writeVerified(await drive.download(fileId), target);
}

/** A download share's content to `target`, with the same temp-name-then-rename guarantee. */
export async function downloadShareToFile(
  drive: DriveClient,
  shareId: string,
  target: string,
): Promise<void> {
  const opened = await drive.openShare(shareId);
  await writeVerified(await opened.download(), target);
}
