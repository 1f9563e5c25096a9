// Direct URLs: under a public (CDN) base URL, or presigned GETs cached until near expiry.
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { assertKey } from "../internal.js";
import type { S3Context } from "./context.js";

/** Past this many cached URLs, the expired ones are dropped. */
const URL_CACHE_SWEEP_SIZE = 10_000;

/** @internal */
export async function s3Url(
  ctx: S3Context,
  key: string,
  options: { expiresIn?: number } = {},
): Promise<string | undefined> {
  assertKey(key, ctx.id);
  if (ctx.publicBaseUrl)
    return `${ctx.publicBaseUrl}/${(ctx.prefix + key).split("/").map(encodeURIComponent).join("/")}`;
  if (!ctx.presign) return undefined;
  const expiresIn = options.expiresIn ?? ctx.presignExpiresIn;
  // A caller's argument, not a factory option: a TypeError, as for every per-call option.
  if (typeof expiresIn !== "number" || !Number.isSafeInteger(expiresIn) || expiresIn < 1) {
    throw new TypeError(
      `Expected expiresIn to be an integer >= 1 but received ${String(expiresIn)}`,
    );
  }
  const cacheKey = `${key}:${expiresIn}`;
  const t = ctx.now();
  const cached = ctx.urlCache.get(cacheKey);
  if (cached && t < cached.refreshAt) return cached.url;
  const signed = await getSignedUrl(
    ctx.client,
    new GetObjectCommand({ Bucket: ctx.bucket, Key: ctx.prefix + key }),
    { expiresIn },
  );
  // Refresh when 10% of the lifetime (at most 5 minutes) is left.
  const margin = Math.min(expiresIn * 100, 300_000);
  ctx.urlCache.set(cacheKey, { url: signed, refreshAt: t + expiresIn * 1000 - margin });
  if (ctx.urlCache.size > URL_CACHE_SWEEP_SIZE) {
    for (const [k, v] of ctx.urlCache) if (v.refreshAt <= t) ctx.urlCache.delete(k);
  }
  return signed;
}
