/** Kept for imports inside src/chat; the wire types live in src/wire/chat.ts. */
export type * from '../wire/chat.ts';
