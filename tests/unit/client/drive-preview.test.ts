import { describe, expect, it } from 'vitest';
import { makePreview, textPreview } from '../../../src/client/index.ts';

describe(makePreview.name, () => {
  it('takes the first lines of a text file, bounded in bytes', async () => {
    const text = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const p = await makePreview(new Blob([text], { type: 'text/plain' }));
    expect(new TextDecoder().decode(p!)).toBe(text.split('\n').slice(0, 10).join('\n'));
    expect(textPreview('x'.repeat(10_000)).length).toBe(2048);
  });

  it('has no preview for other types, and says why it cannot draw images here', async () => {
    expect(
      await makePreview(new Blob([new Uint8Array(10)], { type: 'application/zip' })),
    ).toBeNull();
    await expect(
      makePreview(new Blob([new Uint8Array(10)], { type: 'image/png' })),
    ).rejects.toMatchObject({
      code: 'no-canvas',
    });
  });
});
