// The export of a user's media as a tar stream: every servable file with its bytes and a
// manifest; a paused client holds back the datastore reads; a client that goes away closes
// the datastore streams in flight.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { Readable } from "node:stream";
import { describe, it } from "node:test";
import tar from "tar-stream";
import type { Datastore } from "../../src/datastore/types.js";
import { memoryMetadataStore } from "../../src/metadata/index.js";
import { eventually } from "../../src/testing/eventually.js";
import { ADMIN, createAdminFixture, SERVER } from "./fixture.js";

const alice = "@alice:test.local";
const PATH = `/_synapse/admin/v1/users/${encodeURIComponent(alice)}/media/export`;

/** Counts bytes read from the datastore and remembers every stream it handed out. */
function watched(datastore: Datastore, state: { read: number; streams: Readable[] }): Datastore {
  return {
    ...datastore,
    id: datastore.id,
    capabilities: datastore.capabilities,
    put: (source, options) => datastore.put(source, options),
    head: (key) => datastore.head(key),
    delete: (key) => datastore.delete(key),
    ...(datastore.list ? { list: (o?: { signal?: AbortSignal }) => datastore.list!(o) } : {}),
    async get(key, options) {
      const got = await datastore.get(key, options);
      got.stream.on("data", (chunk: Buffer) => (state.read += chunk.length));
      state.streams.push(got.stream);
      return got;
    },
  };
}

function getExport(baseUrl: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${baseUrl}${PATH}`,
      { headers: { Authorization: `Bearer ${ADMIN}` } },
      resolve,
    );
    req.on("error", reject);
  });
}

async function untar(res: http.IncomingMessage): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  res.pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

describe("export of a user's media", () => {
  it("streams every servable file with a manifest; quarantined media is listed without bytes", async () => {
    const f = await createAdminFixture(memoryMetadataStore());
    try {
      const bodies = [randomBytes(3 * 1024 * 1024), Buffer.from("hello"), randomBytes(70_000)];
      const ids: string[] = [];
      for (const [i, body] of bodies.entries()) {
        const { mxc } = await f.repo.upload(body, {
          contentType: "application/octet-stream",
          filename: `b${i}`,
          uploader: alice,
        });
        ids.push(mxc.split("/").pop()!);
      }
      const { mxc: other } = await f.repo.upload(Buffer.from("bob's"), {
        contentType: "text/plain",
        uploader: "@bob:test.local",
      });
      await f.repo.quarantine({ mxc: { origin: SERVER, mediaId: ids[1]! } });
      const res = await getExport(f.baseUrl);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-type"], "application/x-tar");
      const files = await untar(res);
      assert.deepEqual(
        [...files.keys()].sort(),
        [`media/${SERVER}/${ids[0]}`, `media/${SERVER}/${ids[2]}`, "manifest.json"].sort(),
      );
      for (const i of [0, 2]) {
        assert.ok(files.get(`media/${SERVER}/${ids[i]}`)!.equals(bodies[i]!), `file ${i}`);
      }
      const manifest = JSON.parse(files.get("manifest.json")!.toString());
      assert.equal(manifest.user_id, alice);
      assert.equal(manifest.media.length, 3);
      const byId = new Map(manifest.media.map((m: { media_id: string }) => [m.media_id, m]));
      assert.equal((byId.get(ids[1]!) as { file: unknown }).file, null);
      assert.equal(
        (byId.get(ids[0]!) as { sha256: string }).sha256,
        createHash("sha256").update(bodies[0]!).digest("hex"),
      );
      assert.ok(!manifest.media.some((m: { media_id: string }) => other.endsWith(m.media_id)));
      assert.deepEqual(f.audit.at(-1), {
        action: "admin_export_user_media",
        admin: "@admin:test.local",
        target: alice,
        count: 2,
      });
    } finally {
      await f.close();
    }
  });

  it("a paused client holds back datastore reads; going away closes the datastore streams", async () => {
    const state = { read: 0, streams: [] as Readable[] };
    const f = await createAdminFixture(memoryMetadataStore(), {
      datastore: (d) => watched(d, state),
    });
    try {
      const size = 8 * 1024 * 1024;
      for (let i = 0; i < 4; i++) {
        await f.repo.upload(randomBytes(size), {
          contentType: "application/octet-stream",
          uploader: alice,
        });
      }
      const res = await getExport(f.baseUrl);
      res.pause();
      // Reads stop once the socket and the packer's buffers are full, far short of 32 MiB.
      let last = -1;
      await eventually("datastore reads to stall behind the paused client", 20_000, async () => {
        const now = state.read;
        const stalled = now > 0 && now === last;
        last = now;
        if (stalled) await new Promise((r) => setTimeout(r, 200));
        return stalled && state.read === now ? true : undefined;
      });
      assert.ok(
        state.read < 3 * size,
        `read ${state.read} bytes of ${4 * size} with the client paused`,
      );
      res.destroy();
      await eventually("every datastore stream to be closed", 20_000, async () =>
        state.streams.every((s) => s.destroyed || s.readableEnded) ? true : undefined,
      );
      assert.ok(state.streams.length < 4, "no datastore stream was opened after the client left");
    } finally {
      await f.close();
    }
  });
});
