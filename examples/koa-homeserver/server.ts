// A homeserver built on Koa mounting the kit behind its own authentication.
// Run: npm run build && node --import tsx examples/koa-homeserver/server.ts
import Koa from "koa";
import { createMediaRepository } from "matrix-media-kit";
import { memoryCache } from "matrix-media-kit/cache";
import { fsDatastore } from "matrix-media-kit/datastore";
import { createMediaIdGenerator, parseMachineId } from "matrix-media-kit/ids";
import { mediaMiddleware } from "matrix-media-kit/koa";
import { memoryMetadataStore } from "matrix-media-kit/metadata";
import { createThumbnailer } from "matrix-media-kit/thumbnail";

const sessions = new Map([["secret-token", { userId: "@alice:example.org" }]]);

export function createApp(root = "./data/koa-media") {
  const repo = createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: parseMachineId(process.env.MACHINE_ID ?? "0") }),
    datastore: fsDatastore({ root }),
    metadata: memoryMetadataStore(),
    cache: memoryCache({ maxBytes: 64 * 1024 * 1024 }),
    thumbnailer: createThumbnailer(),
  });
  const app = new Koa();
  app.use(
    mediaMiddleware(repo, {
      authenticate: async (_req, { accessToken }) => sessions.get(accessToken),
    }),
  );
  app.use((ctx) => {
    if (ctx.path === "/_matrix/client/versions") ctx.body = { versions: ["v1.11", "v1.12"] };
  });
  return { app, repo };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app } = createApp();
  app.listen(8008, "127.0.0.1", () => console.log("koa homeserver on http://127.0.0.1:8008"));
}
