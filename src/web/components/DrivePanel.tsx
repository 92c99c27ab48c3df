/**
 * The VDrive panel: drop or pick files (encrypted here, uploaded in chunks with a progress bar
 * each, pausable and resumable — also after a reload), the decrypted list, download, delete and
 * share into a chat.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DriveFile } from '../../client/index.ts';
import { chatState, chatTitle } from '../lib/chats.ts';
import {
  addFiles,
  deleteFile,
  dismiss,
  download,
  driveState,
  formatSize,
  loadPending,
  pause,
  refreshFiles,
  resume,
  shareFile,
  type Upload,
} from '../lib/drive.ts';
import { useStore } from '../lib/store.ts';
import { ErrorBox, useAction } from './common.tsx';

function UploadRow({ u }: { u: Upload }) {
  const picker = useRef<HTMLInputElement>(null);
  const pct = u.size ? Math.floor((u.done / u.size) * 100) : 100;
  const label = `Upload of ${u.name}`;
  return (
    <li class={`upload upload-${u.state}`} data-state={u.state}>
      <div class="upload-head">
        <span class="file-name">{u.name}</span>
        <span class="muted small">
          {u.state === 'done'
            ? 'Uploaded'
            : u.state === 'paused'
              ? `Paused at ${pct}%`
              : u.state === 'failed'
                ? 'Failed'
                : `${pct}%`}
        </span>
      </div>
      <progress max={u.size || 1} value={u.done} aria-label={label} />
      <div class="upload-actions">
        {u.state === 'uploading' && (
          <button type="button" onClick={() => pause(u.key)} aria-label={`Pause ${u.name}`}>
            Pause
          </button>
        )}
        {(u.state === 'paused' || u.state === 'failed') &&
          (u.file ? (
            <button type="button" onClick={() => resume(u.key)} aria-label={`Resume ${u.name}`}>
              Resume
            </button>
          ) : (
            <>
              <button
                type="button"
                onClick={() => picker.current?.click()}
                aria-label={`Resume ${u.name}: pick the file again`}
              >
                Pick file to resume
              </button>
              <input
                ref={picker}
                type="file"
                class="visually-hidden"
                tabIndex={-1}
                aria-hidden="true"
                onChange={(e) => {
                  const f = e.currentTarget.files?.[0];
                  if (f) resume(u.key, f);
                  e.currentTarget.value = '';
                }}
              />
            </>
          ))}
        {u.state !== 'uploading' && (
          <button type="button" class="link small" onClick={() => dismiss(u.key)}>
            {u.state === 'done' ? 'Hide' : 'Cancel'}
          </button>
        )}
      </div>
      <ErrorBox error={u.error} />
    </li>
  );
}

function ShareForm({ file, onDone }: { file: DriveFile; onDone: () => void }) {
  const chats = useStore(chatState);
  const ids = Object.keys(chats.chats);
  const [chatId, setChatId] = useState(ids[0] ?? '');
  const [mode, setMode] = useState<'preview' | 'download'>('download');
  const [days, setDays] = useState('');
  const [shared, setShared] = useState(false);
  const share = useAction(async () => {
    await shareFile(file.id, chatId, mode, days ? Number(days) : undefined);
    setShared(true);
  });
  if (ids.length === 0) return <p class="muted small">Start a chat first to share into it.</p>;
  return (
    <form
      class="share-form"
      aria-label={`Share ${file.meta.name}`}
      onSubmit={(e) => {
        e.preventDefault();
        void share.run();
      }}
    >
      <label for={`share-chat-${file.id}`}>Chat</label>
      <select
        id={`share-chat-${file.id}`}
        value={chatId}
        onChange={(e) => setChatId(e.currentTarget.value)}
      >
        {ids.map((id) => (
          <option key={id} value={id}>
            {chatTitle(chats.chats[id]!.chat, chats)}
          </option>
        ))}
      </select>
      <fieldset>
        <legend>They may</legend>
        <label>
          <input
            type="radio"
            name={`mode-${file.id}`}
            checked={mode === 'download'}
            onChange={() => setMode('download')}
          />{' '}
          See the preview and download
        </label>
        <label>
          <input
            type="radio"
            name={`mode-${file.id}`}
            checked={mode === 'preview'}
            onChange={() => setMode('preview')}
          />{' '}
          See the preview only
        </label>
      </fieldset>
      <label for={`share-exp-${file.id}`}>Expires</label>
      <select
        id={`share-exp-${file.id}`}
        value={days}
        onChange={(e) => setDays(e.currentTarget.value)}
      >
        <option value="">Never</option>
        <option value="1">In 1 day</option>
        <option value="7">In 7 days</option>
        <option value="30">In 30 days</option>
      </select>
      <div class="row">
        <button type="submit" class="primary" disabled={share.busy || !chatId}>
          {share.busy ? 'Sharing…' : 'Share'}
        </button>
        <button type="button" onClick={onDone}>
          {shared ? 'Close' : 'Cancel'}
        </button>
      </div>
      {shared && (
        <p class="ok small" role="status">
          Shared: a file card is in the chat.
        </p>
      )}
      <ErrorBox error={share.error} />
    </form>
  );
}

function FileRow({ f }: { f: DriveFile }) {
  const [sharing, setSharing] = useState(false);
  const [asking, setAsking] = useState(false);
  const get = useAction(async () => download(f));
  const del = useAction(async () => deleteFile(f.id));
  const name = f.meta.name;
  return (
    <li class="file-row">
      <div class="file-info">
        <span class="file-name">{name}</span>
        <span class="muted small">
          {formatSize(f.meta.size)} ·{' '}
          <time dateTime={f.createdAt}>{new Date(f.createdAt).toLocaleString()}</time>
        </span>
      </div>
      <div class="file-actions">
        <button
          type="button"
          disabled={get.busy}
          onClick={() => void get.run()}
          aria-label={`Download ${name}`}
        >
          {get.busy ? 'Decrypting…' : 'Download'}
        </button>
        <button
          type="button"
          aria-expanded={sharing}
          onClick={() => setSharing(!sharing)}
          aria-label={`Share ${name}`}
        >
          Share
        </button>
        {asking ? (
          <>
            <button type="button" class="danger" disabled={del.busy} onClick={() => void del.run()}>
              Yes, delete
            </button>
            <button type="button" onClick={() => setAsking(false)}>
              Keep
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setAsking(true)} aria-label={`Delete ${name}`}>
            Delete
          </button>
        )}
      </div>
      {sharing && <ShareForm file={f} onDone={() => setSharing(false)} />}
      <ErrorBox error={get.error ?? del.error} />
    </li>
  );
}

export function DrivePanel() {
  const s = useStore(driveState);
  const [over, setOver] = useState(false);
  const load = useAction(async () => {
    await refreshFiles();
    await loadPending();
  });
  const picker = useRef<HTMLInputElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    void load.run();
  }, []);
  return (
    <section class="drive" aria-labelledby="drive-title">
      <h2 id="drive-title" ref={heading} tabIndex={-1}>
        Files
      </h2>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: dropping is a mouse shortcut; the labelled picker inside is the keyboard way */}
      <div
        class={`dropzone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          if (e.dataTransfer?.files.length) addFiles(e.dataTransfer.files);
        }}
      >
        <p>Drop files here to encrypt and upload them, or</p>
        <label class="button primary" for="drive-picker">
          Choose files
        </label>
        <input
          id="drive-picker"
          ref={picker}
          type="file"
          multiple
          class="visually-hidden"
          onChange={(e) => {
            if (e.currentTarget.files) addFiles([...e.currentTarget.files]);
            e.currentTarget.value = '';
          }}
        />
        <p class="muted small">Names and contents are encrypted on this device before upload.</p>
      </div>
      {s.uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {s.uploads.map((u) => (
            <UploadRow key={u.key} u={u} />
          ))}
        </ul>
      )}
      <ErrorBox error={load.error} />
      {!s.loaded && !load.error && <p class="muted">Decrypting your file list…</p>}
      {s.loaded && s.files.length === 0 && <p class="muted empty">No files yet.</p>}
      {s.files.length > 0 && (
        <ul class="files" aria-label="Your files">
          {s.files.map((f) => (
            <FileRow key={f.id} f={f} />
          ))}
        </ul>
      )}
    </section>
  );
}
