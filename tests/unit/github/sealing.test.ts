import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AtRestKeyring } from '../../../src/atrest.ts';
import { KeyringSealer, SealError } from '../../../src/github/sealing.ts';

const key = () => new Uint8Array(randomBytes(32));

describe(KeyringSealer.name, () => {
  it('seals with the newest key, names it in the envelope, and opens with any key of the ring', () => {
    const k1 = key();
    const old = new KeyringSealer(new AtRestKeyring([{ id: 'k1', key: k1 }]));
    const sealed = old.seal(Buffer.from('ghp_secret'), 'col:row');
    expect(old.keyIdOf(sealed)).toBe('k1');
    expect(Buffer.from(sealed).includes(Buffer.from('ghp_secret'))).toBe(false);
    const ring = new KeyringSealer(
      new AtRestKeyring([
        { id: 'k1', key: k1 },
        { id: 'k2', key: key() },
      ]),
    );
    expect(ring.currentKeyId).toBe('k2');
    expect(Buffer.from(ring.open(sealed, 'col:row')).toString()).toBe('ghp_secret');
    expect(ring.keyIdOf(ring.seal(Buffer.from('x'), 'a'))).toBe('k2');
  });

  it('refuses another row’s AAD, a flipped byte, a truncated envelope and an unknown key id', () => {
    const ring = new KeyringSealer(new AtRestKeyring([{ id: 'k1', key: key() }]));
    const sealed = ring.seal(Buffer.from('webhook secret'), 'col:row-1');
    expect(() => ring.open(sealed, 'col:row-2')).toThrow(SealError);
    const flipped = new Uint8Array(sealed);
    flipped[flipped.length - 5] = flipped[flipped.length - 5] === 65 ? 66 : 65;
    expect(() => ring.open(flipped, 'col:row-1')).toThrow(SealError);
    expect(() => ring.open(sealed.subarray(0, 10), 'col:row-1')).toThrow(SealError);
    const other = new KeyringSealer(new AtRestKeyring([{ id: 'k9', key: key() }]));
    expect(() => other.open(sealed, 'col:row-1')).toThrow(SealError);
  });
});
