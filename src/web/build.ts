/**
 * Builds the web app (src/web) into dist/web with esbuild: content-hashed assets plus an
 * index.html that names them. `ensureWebBundle` rebuilds only when an input changed since the
 * last build, so `npm start` serves a current app with no separate step.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_SRC_DIR = here;
export const PROJECT_ROOT = path.resolve(here, '../..');
export const WEB_DIST_DIR = path.join(PROJECT_ROOT, 'dist', 'web');
const MANIFEST = 'manifest.json';

export interface WebManifest {
  builtAt: number;
  /** Every source file the bundle was made from, relative to the project root. */
  inputs: string[];
  /** Public file name → file in the dist dir. */
  files: Record<string, string>;
  app: string;
  css: string;
  worker: string;
}

export async function readManifest(dir = WEB_DIST_DIR): Promise<WebManifest | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as WebManifest;
  } catch {
    return undefined;
  }
}

async function isStale(manifest: WebManifest | undefined): Promise<boolean> {
  if (!manifest) return true;
  // index.html is read by this module, not by esbuild, so it is not among the inputs.
  const inputs = [...manifest.inputs, path.relative(PROJECT_ROOT, path.join(here, 'index.html'))];
  for (const input of inputs) {
    try {
      if ((await stat(path.join(PROJECT_ROOT, input))).mtimeMs > manifest.builtAt) return true;
    } catch {
      return true;
    }
  }
  return false;
}

export async function buildWeb(outDir = WEB_DIST_DIR): Promise<WebManifest> {
  const esbuild = await import('esbuild');
  const builtAt = Date.now();
  const tmp = `${outDir}.tmp-${process.pid}-${builtAt}`;
  await mkdir(path.join(tmp, 'assets'), { recursive: true });
  const common: import('esbuild').BuildOptions & { metafile: true } = {
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['chrome120', 'firefox121', 'safari17'],
    platform: 'browser',
    metafile: true,
    write: true,
    entryNames: '[name]-[hash]',
    outdir: path.join(tmp, 'assets'),
    logLevel: 'silent',
    legalComments: 'none',
  };
  const worker = await esbuild.build({
    ...common,
    entryPoints: { kdf: path.join(here, 'workers', 'kdf.worker.ts') },
  });
  const workerFile = Object.keys(worker.metafile.outputs)
    .map((p) => path.basename(p))
    .find((f) => f.endsWith('.js'))!;
  const app = await esbuild.build({
    ...common,
    entryPoints: { app: path.join(here, 'main.tsx') },
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: { __KDF_WORKER_URL__: JSON.stringify(`/assets/${workerFile}`) },
  });
  const outputs = Object.keys(app.metafile.outputs).map((p) => path.basename(p));
  const appFile = outputs.find((f) => f.startsWith('app-') && f.endsWith('.js'))!;
  const cssFile = outputs.find((f) => f.endsWith('.css'))!;
  const inputs = [
    ...new Set([...Object.keys(worker.metafile.inputs), ...Object.keys(app.metafile.inputs)]),
  ].filter((p) => !p.includes('node_modules'));
  const html = (await readFile(path.join(here, 'index.html'), 'utf8'))
    .replace('%APP_JS%', `/assets/${appFile}`)
    .replace('%APP_CSS%', `/assets/${cssFile}`);
  await writeFile(path.join(tmp, 'index.html'), html);
  const files: Record<string, string> = { '/': 'index.html' };
  for (const f of [appFile, cssFile, workerFile]) files[`/assets/${f}`] = `assets/${f}`;
  const manifest: WebManifest = {
    builtAt,
    inputs,
    files,
    app: appFile,
    css: cssFile,
    worker: workerFile,
  };
  await writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 2));
  // Swap in whole: a server reading the old bundle never sees half of a new one. The old dir is
  // renamed away first, so the window without a bundle is two renames wide, not a recursive rm.
  await mkdir(path.dirname(outDir), { recursive: true });
  const trash = `${outDir}.old-${process.pid}-${builtAt}`;
  await rename(outDir, trash).catch(() => undefined);
  try {
    await rename(tmp, outDir);
  } catch (err) {
    // Another process built at the same time and won the rename: its bundle is as good.
    await rm(tmp, { recursive: true, force: true });
    const other = await readManifest(outDir);
    if (!other) throw err;
    return other;
  } finally {
    await rm(trash, { recursive: true, force: true });
  }
  return manifest;
}

/** Builds when the bundle is missing or older than any of its sources. */
export async function ensureWebBundle(
  outDir = WEB_DIST_DIR,
): Promise<{ manifest: WebManifest; built: boolean }> {
  const current = await readManifest(outDir);
  if (!(await isStale(current))) return { manifest: current!, built: false };
  return { manifest: await buildWeb(outDir), built: true };
}
