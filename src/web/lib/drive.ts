/**
 * The drive panel's state: the decrypted file list and the uploads in progress. An upload's id is
 * kept in localStorage from the moment the server holds its record (ids only — names stay
 * encrypted on the server and are decrypted for display), so after a reload the panel lists it
 * as paused and asks for the same file again to send only the missing chunks.
 */
import type { ShareMode } from '../../client/drive.ts';
import { type DriveFile, makePreview, UploadInterruptedError } from '../../client/index.ts';
import { client } from './session.ts';
import { Store } from './store.ts';

export interface Upload {
  /** Local key; the file id once the server has the record. */
  key: string;
  fileId?: string;
  name: string;
  size: number;
  done: number;
  state: 'uploading' | 'paused' | 'failed' | 'done';
  /** Present while this page holds the bytes; absent after a reload (pick the file again). */
  file?: File;
  error?: unknown;
  abort?: AbortController;
}

export interface DriveState {
  files: DriveFile[];
  loaded: boolean;
  uploads: Upload[];
}

export const driveState = new Store<DriveState>({ files: [], loaded: false, uploads: [] });

const pendingKey = () => `vutler.uploads.${client.user?.id ?? ''}`;

function pendingIds(): string[] {
  try {
    return JSON.parse(localStorage.getItem(pendingKey()) ?? '[]') as string[];
  } catch {
    return [];
  }
}

function setPending(ids: string[]): void {
  try {
    localStorage.setItem(pendingKey(), JSON.stringify(ids));
  } catch {
    // storage disabled: resuming after a reload is not possible then, uploads still work
  }
}

function patch(key: string, p: Partial<Upload>): void {
  driveState.update((s) => ({
    ...s,
    uploads: s.uploads.map((u) => (u.key === key ? { ...u, ...p } : u)),
  }));
}

export async function refreshFiles(): Promise<void> {
  const files: DriveFile[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.drive.list({ limit: 100, ...(cursor ? { cursor } : {}) });
    files.push(...page.files);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  files.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  driveState.update((s) => ({ ...s, files, loaded: true }));
}

/** Uploads interrupted by a reload, listed as paused (their names decrypted from the server). */
export async function loadPending(): Promise<void> {
  const known = new Set(driveState.get().uploads.map((u) => u.fileId));
  const restored: Upload[] = [];
  const keep: string[] = [];
  for (const id of pendingIds()) {
    if (known.has(id)) continue;
    try {
      const f = await client.drive.get(id);
      if (f.status === 'ready') continue;
      keep.push(id);
      restored.push({
        key: id,
        fileId: id,
        name: f.meta.name,
        size: f.meta.size,
        done: 0,
        state: 'paused',
      });
    } catch {
      // deleted or gone: forget it
    }
  }
  setPending([...keep, ...[...known].filter((x): x is string => !!x && !keep.includes(x))]);
  driveState.update((s) => ({ ...s, uploads: [...s.uploads, ...restored] }));
}

async function preview(file: File): Promise<Uint8Array | undefined> {
  try {
    return (await makePreview(file)) ?? undefined;
  } catch {
    return undefined; // an image the browser cannot decode still uploads, without a thumbnail
  }
}

async function run(key: string, file: File, fileId?: string): Promise<void> {
  const abort = new AbortController();
  patch(key, { state: 'uploading', error: undefined, abort, file });
  const onProgress = (done: number) => patch(key, { done });
  try {
    if (fileId) {
      await client.drive.resume(fileId, file, { onProgress, signal: abort.signal });
    } else {
      await client.drive.upload(file, {
        name: file.name,
        type: file.type || undefined,
        modifiedAt: file.lastModified,
        preview: await preview(file),
        onProgress,
        signal: abort.signal,
        onCreated: (id) => {
          patch(key, { fileId: id });
          setPending([...pendingIds(), id]);
        },
      });
    }
    const id = driveState.get().uploads.find((u) => u.key === key)?.fileId;
    setPending(pendingIds().filter((x) => x !== id));
    patch(key, { state: 'done', done: file.size, abort: undefined });
    await refreshFiles();
    // Listed now with the other files: the progress row has done its job.
    driveState.update((s) => ({ ...s, uploads: s.uploads.filter((u) => u.key !== key) }));
  } catch (err) {
    if (err instanceof UploadInterruptedError) {
      patch(key, {
        fileId: err.fileId,
        state: abort.signal.aborted ? 'paused' : 'failed',
        error: abort.signal.aborted ? undefined : err.cause,
        abort: undefined,
      });
    } else {
      patch(key, { state: 'failed', error: err, abort: undefined });
    }
  }
}

export function addFiles(files: Iterable<File>): void {
  for (const file of files) {
    const key = crypto.randomUUID();
    driveState.update((s) => ({
      ...s,
      uploads: [
        ...s.uploads,
        { key, name: file.name, size: file.size, done: 0, state: 'uploading' },
      ],
    }));
    void run(key, file);
  }
}

export function pause(key: string): void {
  driveState
    .get()
    .uploads.find((u) => u.key === key)
    ?.abort?.abort();
}

/** Resumes with the bytes this page still holds, or with `file` picked again after a reload. */
export function resume(key: string, file?: File): void {
  const u = driveState.get().uploads.find((x) => x.key === key);
  const bytes = file ?? u?.file;
  if (!u || !bytes) return;
  if (bytes.size !== u.size || (file && file.name !== u.name)) {
    patch(key, {
      state: 'failed',
      error: new Error(`That is not “${u.name}” (${u.size} bytes): pick the same file to resume.`),
    });
    return;
  }
  void run(key, bytes, u.fileId);
}

export function dismiss(key: string): void {
  const u = driveState.get().uploads.find((x) => x.key === key);
  u?.abort?.abort();
  if (u?.fileId) setPending(pendingIds().filter((x) => x !== u.fileId));
  driveState.update((s) => ({ ...s, uploads: s.uploads.filter((x) => x.key !== key) }));
}

/** Decrypts while it downloads, then hands the plaintext to the browser as a saved file. */
export async function download(f: DriveFile): Promise<void> {
  const stream = await client.drive.download(f.id);
  const blob = await new Response(stream).blob();
  saveBlob(new Blob([blob], { type: f.meta.type }), f.meta.name);
}

export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function deleteFile(id: string): Promise<void> {
  await client.drive.delete(id);
  driveState.update((s) => ({ ...s, files: s.files.filter((f) => f.id !== id) }));
}

export async function shareFile(
  id: string,
  chatId: string,
  mode: ShareMode,
  expiresInDays: number | undefined,
): Promise<void> {
  await client.drive.share(id, chatId, {
    mode,
    ...(expiresInDays ? { expiresAt: new Date(Date.now() + expiresInDays * 86_400_000) } : {}),
  });
}

export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}
