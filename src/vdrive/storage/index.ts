import type { Config } from '../../config.ts';
import { FsBlobStore } from './fs.ts';
import type { BlobStore } from './types.ts';
import { WebDavBlobStore } from './webdav.ts';

export type { BlobInfo, BlobStore } from './types.ts';

export function createBlobStore(storage: Config['storage']): BlobStore {
  if (storage.backend === 'webdav') {
    if (!storage.webdav) throw new Error('webdav storage needs a URL');
    return new WebDavBlobStore(storage.webdav);
  }
  return new FsBlobStore(storage.dir);
}
