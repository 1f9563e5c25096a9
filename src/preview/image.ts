// The og:image (or a directly linked image): downloaded through the guard, or decoded from
// a `data:` URL without any request; its type and dimensions read from the header bytes.
import type { FetcherSettings } from "./fetcher-options.js";
import { readImageInfo } from "./image-size.js";
import type { PreviewImage } from "./preview-types.js";
import { IMAGE_TYPES, encoded, mimeOf } from "./responses.js";
import type { SafeResponse } from "./safe-fetch-options.js";

const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*?)(;base64)?,/i;

function sniffed(data: Buffer, url: string): PreviewImage | undefined {
  const info = readImageInfo(data);
  if (!info) return undefined;
  return {
    data,
    contentType: info.contentType,
    width: info.width,
    height: info.height,
    size: data.length,
    url,
  };
}

/**
 * A `data:` image: its declared type must be allowed (PNG, JPEG, GIF, WebP) and its bytes must
 * say so too; the size is checked before decoding. Never a network request.
 * @internal
 */
export function decodeDataImage(url: string, maxBytes: number): PreviewImage | undefined {
  const header = DATA_URL.exec(url.slice(0, 256));
  if (!header || !IMAGE_TYPES.has(header[1]!.trim().toLowerCase())) return undefined;
  const payload = url.slice(header[0].length);
  let data: Buffer;
  if (header[3] !== undefined) {
    if (Math.floor((payload.length * 3) / 4) > maxBytes + 2) return undefined;
    data = Buffer.from(payload, "base64");
  } else {
    if (payload.length / 3 > maxBytes) return undefined;
    const bytes = payload.replace(/%([0-9a-f]{2})/gi, (_match, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
    data = Buffer.from(bytes, "latin1");
  }
  return data.length > maxBytes ? undefined : sniffed(data, url);
}

/**
 * The image at `url` (or in `res`, already fetched), or undefined when it is blocked, fails,
 * or is not a PNG, JPEG, GIF or WebP. A `data:` URL is decoded, not fetched.
 * @internal
 */
export async function downloadImage(
  settings: FetcherSettings,
  url: string,
  maxBytes: number,
  res?: SafeResponse,
): Promise<PreviewImage | undefined> {
  if (res === undefined && /^data:/i.test(url)) {
    // The blocklist sees the scheme and media type only, so `{ scheme: "data" }` refuses these.
    const mediaType = DATA_URL.exec(url.slice(0, 256))?.[1] ?? "";
    if (settings.blocklist.isBlocked(`data:${mediaType},`)) return undefined;
    return decodeDataImage(url, maxBytes);
  }
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
  return sniffed(data, response.url);
}
