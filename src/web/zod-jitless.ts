/**
 * Imported first by main.tsx: the SDK's audit-export check brings zod into the page, and zod's
 * object schemas probe `new Function` when they are built (at module load) unless jitless is set
 * before. The CSP refuses eval and would report that probe as a violation; interpreted parsing
 * needs none.
 */
import { z } from 'zod';

z.config({ jitless: true });
