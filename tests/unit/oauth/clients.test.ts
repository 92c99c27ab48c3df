import { describe, expect, it } from 'vitest';
import {
  isMetadataUrl,
  isPrivateAddress,
  redirectMatches,
  validRedirectUri,
} from '../../../src/oauth/clients.ts';
import { suggestAgentName } from '../../../src/oauth/consent.ts';
import { normalizeResource } from '../../../src/oauth/oauth.service.ts';

describe('OAuth client checks', () => {
  it('matches redirects exactly, loopback ports aside', () => {
    expect(redirectMatches('https://app.example/cb', 'https://app.example/cb')).toBe(true);
    expect(redirectMatches('https://app.example/cb', 'https://app.example/cb/')).toBe(false);
    expect(redirectMatches('https://app.example/cb', 'https://app.example:444/cb')).toBe(false);
    expect(redirectMatches('http://127.0.0.1:1/cb', 'http://127.0.0.1:5555/cb')).toBe(true);
    expect(redirectMatches('http://127.0.0.1/cb', 'http://127.0.0.1:5555/cb?x=1')).toBe(false);
    expect(redirectMatches('http://127.0.0.1/cb', 'http://localhost:5555/cb')).toBe(false);
    expect(redirectMatches('http://127.0.0.1/cb', 'http://127.0.0.1.evil.example/cb')).toBe(false);
  });

  it('accepts https, loopback http and private-use schemes only', () => {
    expect(validRedirectUri('https://app.example/cb')).toBe(true);
    expect(validRedirectUri('http://localhost:3000/cb')).toBe(true);
    expect(validRedirectUri('cursor://anysphere.cursor-mcp/oauth/callback')).toBe(true);
    for (const bad of [
      'http://app.example/cb',
      'javascript:alert(1)',
      'data:text/html,x',
      'https://app.example/cb#x',
      'not a url',
    ])
      expect(validRedirectUri(bad), bad).toBe(false);
  });

  it('knows private and loopback addresses, including mapped IPv6', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.0.1',
      '169.254.169.254',
      '::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '2606:4700::1111'])
      expect(isPrivateAddress(a), a).toBe(false);
  });

  it('treats only https URLs with a path as metadata documents', () => {
    expect(isMetadataUrl('https://app.example/client.json')).toBe(true);
    expect(isMetadataUrl('https://app.example/')).toBe(false);
    expect(isMetadataUrl('http://app.example/client.json')).toBe(false);
    expect(isMetadataUrl('https://u:p@app.example/c.json')).toBe(false);
    expect(isMetadataUrl('vcl_abc')).toBe(false);
  });

  it('suggests a valid agent name and normalises resources', () => {
    expect(suggestAgentName('Claude Desktop')).toBe('claude-desktop');
    expect(suggestAgentName('!!!')).toBe('mcp-client');
    expect(suggestAgentName('Ünïcode Tool')).toMatch(/^[a-z0-9][a-z0-9_.-]*$/);
    expect(normalizeResource('https://v.example/mcp/')).toBe('https://v.example/mcp');
    expect(normalizeResource('https://v.example/mcp#x')).toBe('https://v.example/mcp');
  });
});
