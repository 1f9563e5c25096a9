// A user's media as a tar stream (data portability): one entry per servable media, read from
// the datastores one at a time, then a JSON manifest. Nothing is buffered beyond the tar
// packer's own chunks: a slow client holds back the datastore read (backpressure), and a
// client that goes away destroys the datastore stream in flight.
import { pipeline } from "node:stream/promises";
import type tar from "tar-stream";
import type { MediaRecord } from "../metadata/types.js";
import type { MediaRepository } from "../repository/types.js";

/** One item of `manifest.json`. */
interface ManifestItem {
  origin: string;
  media_id: string;
  content_type: string;
  upload_name: string | null;
  media_length: number;
  sha256: string;
  created_ts: number;
  /** The entry holding the bytes; `null` for quarantined media, which is not exported. */
  file: string | null;
}

/** The name of a record's entry: IDs are `[A-Za-z0-9_-]` and server names have no `/`. */
const entryName = (record: MediaRecord): string => `media/${record.origin}/${record.mediaId}`;

async function addRecord(
  repo: MediaRepository,
  pack: tar.Pack,
  record: MediaRecord,
  signal: AbortSignal,
): Promise<string | null> {
  if (record.quarantined) return null;
  const name = entryName(record);
  const body = await repo.read(record, { signal });
  const header = { name, size: body.size, mtime: new Date(record.createdAt) };
  const buffer = body.buffer;
  if (buffer) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, buffer, (error) => (error ? reject(error) : resolve())),
    );
  } else if (body.stream) {
    await pipeline(body.stream, pack.entry(header), { signal });
  } else {
    throw new Error(`no bytes for ${name}`);
  }
  return name;
}

/**
 * Streams every media of `uploader` into `pack` and finalises it with `manifest.json`;
 * resolves with the number of files exported. Stops (rejecting) once `signal` fires.
 * @internal
 */
export async function packUserMedia(
  repo: MediaRepository,
  uploader: string,
  pack: tar.Pack,
  signal: AbortSignal,
): Promise<number> {
  const manifest: ManifestItem[] = [];
  let files = 0;
  for await (const record of repo.admin.uploads(uploader)) {
    signal.throwIfAborted();
    const file = await addRecord(repo, pack, record, signal);
    if (file !== null) files++;
    manifest.push({
      origin: record.origin,
      media_id: record.mediaId,
      content_type: record.contentType,
      upload_name: record.filename,
      media_length: record.size,
      sha256: record.sha256,
      created_ts: record.createdAt,
      file,
    });
  }
  const json = Buffer.from(JSON.stringify({ user_id: uploader, media: manifest }, null, 2));
  await new Promise<void>((resolve, reject) =>
    pack.entry({ name: "manifest.json", size: json.length }, json, (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  pack.finalize();
  return files;
}

/** A tar packer; `tar-stream` is loaded by the first export, not with the handler. @internal */
export async function createPack(): Promise<tar.Pack> {
  const { default: tarStream } = await import("tar-stream");
  return tarStream.pack();
}
