// URL previews: one metadata-backed cache row per (url, hour bucket, primary language), the og:image
// stored as preview media so clients never fetch a remote image themselves.
import { MediaError } from "../errors.js";
import type { RepositoryContext } from "./context.js";
import { finishUpload, ingest } from "./ingest.js";
import type { PreviewImage, PreviewRequestOptions } from "./types.js";
import { parsePreviewUrl } from "../preview/url.js";

const HOUR_MS = 60 * 60 * 1000;

type OpenGraph = Record<string, string | number>;

function hourOf(ms: number): number {
  return ms - (ms % HOUR_MS);
}

/**
 * The cache key's language: the primary subtag of the first language listed, lower-cased
 * (`"en-US,fr;q=0.8"` → `"en"`), or `""`. Keying on the raw header let every variant bypass
 * the cache.
 * @internal
 */
export function previewLanguage(acceptLanguage: string | undefined): string {
  const first = acceptLanguage?.split(",", 1)[0]?.split(";", 1)[0]?.trim() ?? "";
  const primary = first.split("-", 1)[0]!.toLowerCase();
  return /^[a-z]{1,8}$/.test(primary) ? primary : "";
}

/** Stores the fetched og:image as preview media and points the preview at its `mxc://`. */
async function storeImage(
  ctx: RepositoryContext,
  og: OpenGraph,
  image: PreviewImage,
  owner: string,
): Promise<void> {
  // The fetcher bounded the image, so no upload size policy applies to it.
  const blob = await ingest(ctx, "preview", image.data, { contentType: image.contentType });
  const target = {
    origin: ctx.serverNames[0]!,
    mediaId: ctx.ids.next(),
    kind: "preview" as const,
    contentType: image.contentType,
    uploader: owner,
  };
  const uploaded = await finishUpload(ctx, blob, target, (r) => ctx.metadata.insertMedia(r));
  og["og:image"] = uploaded.mxc;
  og["matrix:image:size"] = blob.size;
  // Fetchers written in plain JavaScript may not measure the image.
  if (image.width !== undefined) og["og:image:width"] = image.width;
  if (image.height !== undefined) og["og:image:height"] = image.height;
  og["og:image:type"] = image.contentType;
}

/** The `preview_url` JSON of a URL, from the cache rows or fetched now. @internal */
export async function preview(
  ctx: RepositoryContext,
  url: string,
  opts: PreviewRequestOptions,
): Promise<OpenGraph> {
  const { previews, metadata } = ctx;
  if (!previews) throw new MediaError("M_NOT_FOUND", "URL previews are not enabled");
  parsePreviewUrl(url);
  const now = ctx.now();
  const bucket = hourOf(now);
  const language = previewLanguage(opts.language);
  // An older hour is served when it is cached; otherwise the page is fetched as it is now and
  // stored under the current hour, so varying `ts` cannot force more than one fetch an hour.
  const wanted = opts.ts === undefined ? bucket : Math.min(hourOf(opts.ts), bucket);
  for (const candidate of wanted === bucket ? [bucket] : [wanted, bucket]) {
    const cached = await metadata.getPreview(url, candidate, language);
    if (cached && cached.expiresAt > now) return JSON.parse(cached.json) as OpenGraph;
  }
  const result = await previews.preview(url, {
    ts: now,
    ...(language ? { language } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const og: OpenGraph = { ...result.og };
  if (result.image) {
    await storeImage(ctx, og, result.image, opts.userId);
  } else if (typeof og["og:image"] === "string" && !og["og:image"].startsWith("mxc://")) {
    // Never hand a remote image URL to clients: fetching it would leak their addresses.
    delete og["og:image"];
  }
  try {
    await metadata.putPreview({
      url,
      bucket,
      language,
      json: JSON.stringify(og),
      expiresAt: ctx.now() + ctx.limits.previewTtlMs,
    });
  } catch (error) {
    ctx.logger?.warn("could not cache a URL preview", { error });
  }
  return og;
}
