// A repository and its media handler over a real fs datastore and a chosen metadata store,
// with an admin, two users and an audit log of what the admin channel published.
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fsDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import {
  ADMIN_CHANNEL,
  createMediaHandler,
  type AdminActionMessage,
  type MediaHandlerOptions,
} from "../../src/http/index.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import type { MetadataStore } from "../../src/metadata/types.js";
import { createMediaRepository, type MediaRepository } from "../../src/repository/index.js";
import { tempDir } from "../harness/tmp.js";

export const SERVER = "test.local";
export const ADMIN = "admin_token";
export const ALICE = "alice_token";
export const BOB = "bob_token";
const USERS = {
  [ADMIN]: { userId: "@admin:test.local", isAdmin: true },
  [ALICE]: { userId: "@alice:test.local" },
  [BOB]: { userId: "@bob:test.local" },
} as Record<string, { userId: string; isAdmin?: boolean }>;

export interface AdminFixture {
  baseUrl: string;
  repo: MediaRepository;
  metadata: MetadataStore;
  datastore: Datastore;
  audit: AdminActionMessage[];
  logged: Array<{ message: string; details?: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function createAdminFixture(
  metadata: MetadataStore,
  options: {
    handler?: Partial<MediaHandlerOptions>;
    datastore?: (d: Datastore) => Datastore;
    now?: () => number;
  } = {},
): Promise<AdminFixture> {
  const dir = await tempDir("mmk-admin-");
  const base = fsDatastore({ root: path.join(dir.path, "media"), fsync: false });
  const datastore = options.datastore ? options.datastore(base) : base;
  const repo = createMediaRepository({
    serverName: SERVER,
    ids: createMediaIdGenerator({ machineId: 3 }),
    datastore,
    metadata,
    ...(options.now ? { now: options.now } : {}),
  });
  const logged: AdminFixture["logged"] = [];
  const logger = {
    warn: () => {},
    error: () => {},
    info: (message: string, details?: Record<string, unknown>) => logged.push({ message, details }),
  };
  const handle = createMediaHandler(repo, {
    authenticate: async (_req, { accessToken }) => USERS[accessToken],
    logger,
    ...options.handler,
  });
  const audit: AdminActionMessage[] = [];
  const onAudit = (message: unknown) => audit.push(message as AdminActionMessage);
  subscribe(ADMIN_CHANNEL, onAudit);
  const server = http.createServer((req, res) => {
    handle(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end("not ours");
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    repo,
    metadata,
    datastore,
    audit,
    logged,
    async close() {
      unsubscribe(ADMIN_CHANNEL, onAudit);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await repo.close();
      await dir.cleanup();
    },
  };
}

/** Stores `count` uploads of `uploader` directly through the repository; returns their media IDs. */
export async function seed(
  repo: MediaRepository,
  uploader: string,
  count: number,
  body: (i: number) => string = (i) => `${uploader} file ${i}`,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { mxc } = await repo.upload(Buffer.from(body(i)), {
      contentType: "text/plain",
      filename: `f${i}.txt`,
      uploader,
    });
    ids.push(mxc.split("/").pop()!);
  }
  return ids;
}

/** Every key stored in the datastore. */
export async function keysOf(datastore: Datastore): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of datastore.list!()) keys.push(entry.key);
  return keys.sort();
}
