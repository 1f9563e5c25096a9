// GET …/config and GET …/preview_url (authenticated client and legacy APIs).
import { MediaError } from "../../errors.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { optionalInt } from "../request.js";
import { sendJson } from "../response.js";
import { GET } from "../target.js";

// MSC4034: the user's limits beside `m.upload.size`, and their usage at its own endpoint.
// A limit that is not set is left out, as a client reads absence as "no limit".
async function config(request: MediaRequest): Promise<void> {
  const { repo, quota, logger } = request.settings;
  const body: Record<string, number> = { ...repo.config() };
  if (quota && request.user) {
    const limits = await quota.limitsFor(request.user.userId, logger);
    if (limits.maxBytes !== undefined) body["org.matrix.msc4034.storage.size"] = limits.maxBytes;
    if (limits.maxFiles !== undefined)
      body["org.matrix.msc4034.storage.max_files"] = limits.maxFiles;
  }
  sendJson(request.res, 200, body);
}

async function usage(request: MediaRequest): Promise<void> {
  const stats = await request.settings.repo.usage(request.requiredUser.userId);
  sendJson(request.res, 200, {
    "org.matrix.msc4034.storage.used": stats.bytes,
    "org.matrix.msc4034.storage.files": stats.count,
  });
}

async function previewUrl(request: MediaRequest): Promise<void> {
  const url = request.query.get("url");
  if (!url) throw new MediaError("M_MISSING_PARAM", "url is required");
  const language = request.req.headers["accept-language"];
  const og = await request.settings.repo.preview(url, {
    ts: optionalInt(request.query, "ts"),
    language: typeof language === "string" ? language : undefined,
    userId: request.requiredUser.userId,
    signal: request.signal,
  });
  sendJson(request.res, 200, og);
}

/** @internal */
export const configRoutes: readonly MediaRoute[] = [
  { name: "config", apis: ["client", "legacy"], path: "config", methods: GET, handle: config },
  { name: "usage", apis: ["msc4034"], path: "usage", methods: GET, handle: usage },
  {
    name: "preview_url",
    apis: ["client", "legacy"],
    path: "preview_url",
    methods: GET,
    handle: previewUrl,
  },
];
