// Reads, whole or ranged; a server that ignores or mangles a range is refused (502), never served.
import { addAbortSignal, type Readable } from "node:stream";
import { GetObjectCommand, type GetObjectCommandOutput } from "@aws-sdk/client-s3";
import { MediaError } from "../../errors.js";
import { assertKey, assertRangeShape, notFound, rangeNotSatisfiable } from "../internal.js";
import type { ByteRange, DatastoreGetResult } from "../types.js";
import { isInvalidRange, isNotFound, withNotFoundRetry, type S3Context } from "./context.js";

/** @internal */
export async function s3Get(
  ctx: S3Context,
  key: string,
  options: { range?: ByteRange; signal?: AbortSignal } = {},
): Promise<DatastoreGetResult> {
  assertKey(key, ctx.id);
  const range = options.range;
  if (range) assertRangeShape(range);
  const res = await getObject(ctx, key, range, options.signal);
  const stream = res.Body as Readable | undefined;
  if (!stream) throw new MediaError("M_UNKNOWN", `S3 returned no body for ${key}`, { status: 502 });
  if (options.signal) addAbortSignal(options.signal, stream);
  if (!range) {
    if (res.ContentLength === undefined) {
      stream.destroy();
      throw new MediaError("M_UNKNOWN", `S3 returned no Content-Length for ${key}`, {
        status: 502,
      });
    }
    return { stream, size: res.ContentLength };
  }
  try {
    return { stream, ...checkRange(key, range, res) };
  } catch (err) {
    stream.destroy();
    throw err;
  }
}

async function getObject(
  ctx: S3Context,
  key: string,
  range: ByteRange | undefined,
  signal: AbortSignal | undefined,
): Promise<GetObjectCommandOutput> {
  try {
    return await withNotFoundRetry(ctx, key, () =>
      ctx.client.send(
        new GetObjectCommand({
          Bucket: ctx.bucket,
          Key: ctx.prefix + key,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {}),
        }),
        signal ? { abortSignal: signal } : {},
      ),
    );
  } catch (err) {
    if (isNotFound(err)) throw notFound(key, ctx.id, err);
    if (range && isInvalidRange(err)) {
      throw new MediaError(
        "M_INVALID_PARAM",
        `Range ${range.start}-${range.end ?? ""} is not satisfiable`,
        { status: 416, cause: err },
      );
    }
    throw err;
  }
}

/** The blob's size and the range the server sent, once they match the range asked for. */
function checkRange(
  key: string,
  range: ByteRange,
  res: GetObjectCommandOutput,
): { size: number; range: { start: number; end: number } } {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.ContentRange ?? "");
  const total = m ? Number(m[3]) : undefined;
  if (m && total !== undefined && range.start >= total) throw rangeNotSatisfiable(range, total);
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  const expectedEnd = total === undefined ? NaN : Math.min(range.end ?? total - 1, total - 1);
  if (!m || start !== range.start || end !== expectedEnd || res.ContentLength !== end - start + 1) {
    throw new MediaError(
      "M_UNKNOWN",
      `S3 server answered the range ${range.start}-${range.end ?? ""} of ${key} with Content-Range ` +
        `${JSON.stringify(res.ContentRange ?? null)} and Content-Length ${String(res.ContentLength)}; refusing to serve it`,
      { status: 502 },
    );
  }
  return { size: total!, range: { start, end } };
}
