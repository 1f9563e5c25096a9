// The results and per-call options of the preview fetcher.

/** The og:image bytes, for the repository to store as media of kind `preview`. */
export interface PreviewImage {
  data: Buffer;
  /** Sniffed from the bytes: `image/png`, `image/jpeg`, `image/gif` or `image/webp`. */
  contentType: string;
  width: number;
  height: number;
  size: number;
  /** Where the image was downloaded from (after redirects). */
  url: string;
}

/** A preview: the Matrix `preview_url` JSON plus the image bytes. */
export interface PreviewResult {
  /** `og:title`, `og:description`, `og:image`, `og:image:width`, `matrix:image:size`... */
  og: Record<string, string | number>;
  /** The downloaded og:image; absent on cache hits and when `storeImage` stored it. */
  image?: PreviewImage;
  /** True when the result came from the cache. */
  cached: boolean;
}

/** Per-call options of {@link PreviewFetcher.preview}. */
export interface PreviewOptions {
  /** The time the preview is for (the `ts` query parameter), in ms. @defaultValue now() */
  ts?: number;
  /** `Accept-Language` for this call. @defaultValue the fetcher's `acceptLanguage` */
  language?: string;
  /**
   * Stops waiting: the call rejects with the signal's reason. The fetch itself (shared with
   * concurrent callers of the same key) still ends within the guard's deadline.
   */
  signal?: AbortSignal;
}

/** Produces previews. */
export interface PreviewFetcher {
  preview(url: string, options?: PreviewOptions): Promise<PreviewResult>;
  /** Closes the SafeFetch the fetcher created itself; an injected `fetch` is left open. */
  close(): Promise<void>;
}
