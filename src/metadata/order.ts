// Keys and orders shared by every store, so memory, PostgreSQL and SQLite list records in
// the same order and page them with the same cursors.
import type { ThumbnailRecord } from "./types.js";

/** NUL cannot occur in a stored string, so it separates the parts of a key unambiguously. */
export function mediaKey(origin: string, mediaId: string): string {
  return `${origin}\0${mediaId}`;
}

/** Code-point order (what PostgreSQL's "C" collation and SQLite's BINARY use on UTF-8). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Position after the last item of a page of a user's uploads (newest first). */
export interface UploaderCursor {
  createdAt: number;
  origin: string;
  mediaId: string;
}

export function encodeCursor(c: UploaderCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.origin, c.mediaId]), "utf8").toString(
    "base64url",
  );
}

/** Newest first: createdAt, then origin, then mediaId, all descending. */
export function compareNewestFirst(a: UploaderCursor, b: UploaderCursor): number {
  return (
    b.createdAt - a.createdAt ||
    compareStrings(b.origin, a.origin) ||
    compareStrings(b.mediaId, a.mediaId)
  );
}

/** The order `getThumbnails` lists a media's thumbnails in: width, height, method, animated. */
export function compareThumbnails(a: ThumbnailRecord, b: ThumbnailRecord): number {
  return (
    a.width - b.width ||
    a.height - b.height ||
    compareStrings(a.method, b.method) ||
    Number(a.animated) - Number(b.animated)
  );
}
