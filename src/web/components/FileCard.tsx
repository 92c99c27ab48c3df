/**
 * A file shared into a chat: the share is opened with the chat key and checked against the card
 * and the sharer's pinned identity (`drive.openShare`); the preview is decrypted here — a
 * thumbnail for images, the first lines for text. Download only when the share allows it.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ChatMessage, OpenedShare } from '../../client/index.ts';
import { formatSize, saveBlob } from '../lib/drive.ts';
import { client } from '../lib/session.ts';
import { ErrorBox, useAction } from './common.tsx';

interface Opened {
  share: OpenedShare;
  image?: string;
  text?: string;
}

async function open(shareId: string, card: ChatMessage): Promise<Opened> {
  const share = await client.drive.openShare(shareId, card);
  const bytes = await share.preview();
  if (!bytes) return { share };
  if (share.meta.type.startsWith('text/')) return { share, text: new TextDecoder().decode(bytes) };
  // Sniffed rather than trusted: the preview is a WebP or JPEG thumbnail made by the sharer.
  const type = bytes[0] === 0xff ? 'image/jpeg' : 'image/webp';
  return {
    share,
    image: URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type })),
  };
}

export function FileCard({ shareId, card }: { shareId: string; card: ChatMessage }) {
  const [opened, setOpened] = useState<Opened | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let url: string | undefined;
    open(shareId, card).then((o) => {
      url = o.image;
      setOpened(o);
    }, setError);
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [shareId, card.id]);
  const get = useAction(async () => {
    if (!opened) return;
    const blob = await new Response(await opened.share.download()).blob();
    saveBlob(new Blob([blob], { type: opened.share.meta.type }), opened.share.meta.name);
  });
  if (error) {
    return (
      <div class="file-card file-card-error">
        <ErrorBox error={error} />
      </div>
    );
  }
  if (!opened) return <div class="file-card muted small">Opening shared file…</div>;
  const { meta, mode, share } = opened.share;
  const expires = share.expiresAt ? new Date(share.expiresAt) : undefined;
  return (
    <figure class="file-card" data-mode={mode}>
      {opened.image && <img src={opened.image} alt={`Preview of ${meta.name}`} class="thumb" />}
      {opened.text !== undefined && <pre class="excerpt">{opened.text}</pre>}
      <figcaption>
        <span class="file-name">{meta.name}</span>
        <span class="muted small">
          {formatSize(meta.size)}
          {expires && ` · expires ${expires.toLocaleDateString()}`}
        </span>
        {mode === 'download' ? (
          <button
            type="button"
            disabled={get.busy}
            onClick={() => void get.run()}
            aria-label={`Download ${meta.name}`}
          >
            {get.busy ? 'Decrypting…' : 'Download'}
          </button>
        ) : (
          <span class="muted small preview-only">Preview only</span>
        )}
      </figcaption>
      <ErrorBox error={get.error} />
    </figure>
  );
}
