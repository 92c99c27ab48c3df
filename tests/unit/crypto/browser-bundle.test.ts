import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function recorder(pulled: string[]): Plugin {
  return {
    name: 'record-node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.split('/')[0]!;
        if (args.path.startsWith('node:') || builtins.has(args.path) || builtins.has(bare)) {
          pulled.push(`${args.path} (from ${args.importer})`);
          // Mark external so the build still finishes and the test reports every offender.
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

describe('src/crypto and the src/client SDK in the browser', () => {
  it('detects a Node built-in when one is imported (self-check of the plugin)', async () => {
    const pulled: string[] = [];
    await build({
      stdin: {
        contents: "import { createHash } from 'node:crypto'; import 'fs'; export { createHash };",
        loader: 'ts',
      },
      bundle: true,
      platform: 'browser',
      write: false,
      logLevel: 'silent',
      plugins: [recorder(pulled)],
    });
    expect(pulled).toHaveLength(2);
  });

  it.each(['src/crypto/index.ts', 'src/client/index.ts'])(
    'bundles %s for platform=browser without any Node built-in',
    async (entry) => {
      const pulled: string[] = [];
      const result = await build({
        entryPoints: [new URL(entry, root).pathname],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
        plugins: [recorder(pulled)],
      });
      expect(result.errors).toEqual([]);
      expect(pulled).toEqual([]);
      const code = result.outputFiles[0]!.text;
      expect(code.length).toBeGreaterThan(10_000);
      expect(code).not.toMatch(/\brequire\(["']node:/);
    },
  );

  it('has no node: import, Buffer or process in its sources', () => {
    const dir = new URL('src/crypto/', root);
    for (const f of readdirSync(dir)) {
      const src = readFileSync(new URL(f, dir), 'utf8');
      expect(src, f).not.toMatch(/from ['"]node:/);
      expect(src, f).not.toMatch(/\bBuffer\b/);
      expect(src, f).not.toMatch(/\bprocess\./);
    }
  });
});
