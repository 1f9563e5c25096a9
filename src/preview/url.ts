// The one check of a URL asked to be previewed, shared by the fetcher and the repository (which
// refuses before its cache lookup). No dependencies: the root entry imports it.
import { MediaError } from "../errors.js";

/**
 * Parses an absolute http(s) URL, or throws `M_INVALID_PARAM`.
 * @internal
 */
export function parsePreviewUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new MediaError("M_INVALID_PARAM", "The url parameter is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new MediaError("M_INVALID_PARAM", "Only http and https URLs can be previewed");
  }
  return url;
}
