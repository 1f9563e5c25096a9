// The og:image (or a directly linked image): downloaded through the guard, its type and
// dimensions read from the header bytes.
import type { FetcherSettings } from "./fetcher-options.js";
import { readImageInfo } from "./image-size.js";
import type { PreviewImage } from "./preview-types.js";
import { IMAGE_TYPES, encoded, mimeOf } from "./responses.js";
import type { SafeResponse } from "./safe-fetch-options.js";

/**
 * The image at `url` (or in `res`, already fetched), or undefined when it is blocked, fails,
 * or is not a PNG, JPEG, GIF or WebP.
 * @internal
 */
export async function downloadImage(
  settings: FetcherSettings,
  url: string,
  maxBytes: number,
  res?: SafeResponse,
): Promise<PreviewImage | undefined> {
  if (settings.blocklist.isBlocked(url)) return undefined;
  let response = res;
  try {
    response ??= await settings.fetch(url, {
      headers: { accept: "image/*" },
      maxBytes,
      allowUrl: settings.allowUrl,
    });
  } catch {
    return undefined;
  }
  if (response.status !== 200 || !IMAGE_TYPES.has(mimeOf(response)) || encoded(response)) {
    response.cancel();
    return undefined;
  }
  let data: Buffer;
  try {
    data = await response.buffer();
  } catch {
    return undefined;
  }
  const info = readImageInfo(data);
  if (!info) return undefined;
  return {
    data,
    contentType: info.contentType,
    width: info.width,
    height: info.height,
    size: data.length,
    url: response.url,
  };
}
