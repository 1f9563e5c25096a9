// Shared by the media server tests: a quiet logger, a fetch wrapper, a test web page.
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  resolveConfig as resolveConfigWith,
  startMediaServer,
  type MediaServerConfig,
  type ServerLogger,
} from "../../src/server/index.js";

export const quiet: ServerLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
export const ALICE = "alice-token";
export const ADMIN = "admin-token";

export const resolveConfig = (raw: unknown, env: Record<string, string>, baseDir: string) =>
  resolveConfigWith(raw, { env, baseDir });
export const startServer = (config: MediaServerConfig, logger: ServerLogger = quiet) =>
  startMediaServer(config, { logger });

export async function req(
  base: string,
  path: string,
  init: {
    method?: string;
    token?: string;
    body?: Buffer | string;
    headers?: Record<string, string>;
  } = {},
) {
  const res = await fetch(base + path, {
    method: init.method ?? "GET",
    headers: {
      ...(init.token && { authorization: `Bearer ${init.token}` }),
      ...init.headers,
    },
    ...(init.body !== undefined && { body: init.body }),
    redirect: "manual",
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body: buf,
    json: () => JSON.parse(buf.toString()) as Record<string, unknown>,
  };
}

/** A web page with OpenGraph tags and a relative og:image, counting connections. */
export async function startWebsite(png: Buffer) {
  let connections = 0;
  const server = http.createServer((request, res) => {
    if (request.url === "/rock.png") {
      res.writeHead(200, { "content-type": "image/png", "content-length": png.length }).end(png);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(
      `<html><head><title>fallback</title><meta property="og:title" content="The Rock">` +
        `<meta property="og:type" content="video.movie"><meta property="og:url" content="http://www.imdb.com/title/tt0117500/">` +
        `<meta property="og:image" content="/rock.png"></head><body>hi</body></html>`,
    );
  });
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Uploads through the media API and returns `server/mediaId` of the new `mxc://`. */
export async function uploadMedia(
  base: string,
  token: string,
  body: Buffer | string,
  contentType?: string,
): Promise<string> {
  const up = await req(base, "/_matrix/media/v3/upload", {
    method: "POST",
    token,
    body,
    ...(contentType !== undefined && { headers: { "content-type": contentType } }),
  });
  if (up.status !== 200) throw new Error(`upload answered ${up.status}: ${up.body.toString()}`);
  return String(up.json().content_uri).slice("mxc://".length);
}
