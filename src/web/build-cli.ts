/** `npm run build:web`: build the web app into dist/web now. */
import { buildWeb, WEB_DIST_DIR } from './build.ts';

const manifest = await buildWeb();
process.stdout.write(`built ${Object.keys(manifest.files).length} files into ${WEB_DIST_DIR}\n`);
