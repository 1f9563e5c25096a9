// GET/HEAD /_matrix/federation/v1/media/{download,thumbnail}/{mediaId}: local media served to
// another server as multipart/mixed (a JSON metadata part, then the bytes). Only mounted
// when the handler has `authenticateServer`.
import { randomBytes } from "node:crypto";
import { MediaError } from "../../errors.js";
import type { MediaRepository } from "../../repository/types.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { chargeDownload } from "../download-limit.js";
import { mediaIdOf, optionalInt, parseThumbnailQuery } from "../request.js";
import {
  mediaHeaders,
  recordEntity,
  sendBody,
  thumbnailEntity,
  type MediaEntity,
  type ResponseBody,
} from "../response.js";
import { GET } from "../target.js";

/** The federation path names no server: the local name the media lives under. */
async function localOriginOf(repo: MediaRepository, mediaId: string): Promise<string> {
  for (const name of repo.serverNames) {
    try {
      await repo.lookup(name, mediaId, { timeoutMs: 0 });
      return name;
    } catch (error) {
      if (MediaError.is(error) && error.errcode === "M_NOT_YET_UPLOADED") return name;
      if (!(MediaError.is(error) && error.errcode === "M_NOT_FOUND")) throw error;
    }
  }
  return repo.serverNames[0]!;
}

async function sendMultipart(
  request: MediaRequest,
  entity: MediaEntity,
  body: ResponseBody & { size: number },
): Promise<void> {
  const boundary = randomBytes(16).toString("hex");
  const head = Buffer.from(
    `--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n` +
      `--${boundary}\r\nContent-Type: ${entity.contentType}\r\n` +
      `Content-Disposition: ${entity.disposition}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headers = mediaHeaders({
    contentType: `multipart/mixed; boundary=${boundary}`,
    cacheControl: "no-store",
    size: head.length + body.size + tail.length,
  });
  return sendBody(request.req, request.res, 200, headers, { ...body, frame: { head, tail } });
}

async function federationDownload(request: MediaRequest): Promise<void> {
  const { repo } = request.settings;
  const mediaId = mediaIdOf(request.params);
  const timeoutMs = optionalInt(request.query, "timeout_ms");
  const origin = await localOriginOf(repo, mediaId);
  const record = await repo.lookup(origin, mediaId, { timeoutMs });
  if (request.req.method !== "HEAD") {
    await chargeDownload(request, "federation_download", record.size);
  }
  const body = await repo.read(record);
  return sendMultipart(request, recordEntity(record), body);
}

async function federationThumbnail(request: MediaRequest): Promise<void> {
  const { repo } = request.settings;
  const mediaId = mediaIdOf(request.params);
  const query = parseThumbnailQuery(request.query);
  const origin = await localOriginOf(repo, mediaId);
  const thumb = await repo.thumbnail(origin, mediaId, query);
  if (request.req.method !== "HEAD") {
    await chargeDownload(request, "federation_thumbnail", thumb.buffer.length);
  }
  return sendMultipart(request, thumbnailEntity(thumb), {
    buffer: thumb.buffer,
    size: thumb.buffer.length,
  });
}

/** @internal */
export const federationRoutes: readonly MediaRoute[] = [
  {
    name: "federation_download",
    apis: ["federation"],
    path: "download/:mediaId",
    methods: GET,
    handle: federationDownload,
  },
  {
    name: "federation_thumbnail",
    apis: ["federation"],
    path: "thumbnail/:mediaId",
    methods: GET,
    handle: federationThumbnail,
  },
];
