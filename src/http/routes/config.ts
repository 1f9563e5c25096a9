// GET …/config and GET …/preview_url (authenticated client and legacy APIs).
import { MediaError } from "../../errors.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { optionalInt } from "../request.js";
import { sendJson } from "../response.js";
import { GET } from "../target.js";

async function config(request: MediaRequest): Promise<void> {
  sendJson(request.res, 200, request.settings.repo.config());
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
  {
    name: "preview_url",
    apis: ["client", "legacy"],
    path: "preview_url",
    methods: GET,
    handle: previewUrl,
  },
];
