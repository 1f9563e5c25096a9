// A homeserver built on Express mounting the kit behind its own authentication.
// Run: npm run build && node --import tsx examples/express-homeserver/server.ts
import express from "express";
import { createMediaRepository } from "matrix-media-kit";
import { memoryCache } from "matrix-media-kit/cache";
import { fsDatastore } from "matrix-media-kit/datastore";
import { createMediaIdGenerator, parseMachineId } from "matrix-media-kit/ids";
import { memoryMetadataStore } from "matrix-media-kit/metadata";
import { mediaRouter } from "matrix-media-kit/express";
import { createThumbnailer } from "matrix-media-kit/thumbnail";

// The homeserver's own session table (here: one hard-coded token).
const sessions = new Map([["secret-token", { userId: "@alice:example.org", isAdmin: true }]]);

export function createApp(root = "./data/express-media") {
  const repo = createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: parseMachineId(process.env.MACHINE_ID ?? "0") }),
    datastore: fsDatastore({ root }),
    metadata: memoryMetadataStore(),
    cache: memoryCache({ maxBytes: 64 * 1024 * 1024 }),
    thumbnailer: createThumbnailer(),
  });
  const app = express();
  // Mount before any body parser: uploads are streamed from the request.
  app.use(
    mediaRouter(repo, { authenticate: async (_req, { accessToken }) => sessions.get(accessToken) }),
  );
  app.get("/_matrix/client/versions", (_req, res) => {
    res.json({ versions: ["v1.11", "v1.12"] });
  });
  return { app, repo };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app } = createApp();
  app.listen(8008, "127.0.0.1", () => console.log("express homeserver on http://127.0.0.1:8008"));
}
