// Imports the built package through its `exports` map, the way a user's code does, and
// checks that no subpath statically pulls in the heavy dependencies of another.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const root = path.resolve(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, string | { types: string; default: string }>;
};

/** Names DESIGN.md promises per subpath (checked for the subpaths that exist). */
const CONTRACT: Record<string, string[]> = {
  ".": ["MediaError", "parseMxc", "formatMxc"],
  "./ids": [
    "Snowflake",
    "parseMachineId",
    "leaseMachineId",
    "createMediaIdGenerator",
    "isValidMediaId",
    "isValidServerName",
  ],
  "./datastore": ["fsDatastore", "s3Datastore", "routeByKind", "migrateDatastore"],
  "./metadata": ["memoryMetadataStore", "postgresMetadataStore"],
  "./cache": ["memoryCache", "redisRingCache", "tieredCache", "HashRing"],
  "./coordination": ["memoryCoordinator", "redisCoordinator", "postgresCoordinator"],
  "./federation": [
    "createFederation",
    "createFederationClient",
    "createServerDiscovery",
    "createKeyFetcher",
    "createRequestVerifier",
    "signRequest",
    "loadSigningKey",
    "readFederationMultipart",
  ],
  "./scale": ["createLeaderElection", "createBackgroundJobs", "collectOrphanBlobs"],
  "./thumbnail": ["createThumbnailer", "DEFAULT_THUMBNAIL_SIZES"],
  "./preview": ["createPreviewFetcher", "createSafeFetch"],
  "./http": ["createMediaHandler", "HTTP_RESPONSE_CHANNEL"],
  "./metrics": ["createMetrics", "DEFAULT_METRICS_OPTIONS"],
  "./express": ["mediaRouter"],
  "./koa": ["mediaMiddleware"],
  "./testing": ["describeDatastore", "describeCache"],
  "./server": ["startMediaServer", "loadConfig", "resolveConfig"],
};

/** Packages only the named subpaths may load (the server composes every primitive). */
const HEAVY: Record<string, string[]> = {
  sharp: ["./thumbnail", "./server"],
  "@aws-sdk/client-s3": ["./datastore/s3", "./datastore", "./server"],
  ioredis: ["./cache", "./cache/redis", "./server"],
  pg: ["./metadata/postgres", "./server"],
  "better-sqlite3": ["./metadata/sqlite", "./server"],
  // An optional peer: ./metrics loads it with a dynamic import, nothing statically.
  "prom-client": [],
  pino: ["./server"],
};

function staticImports(
  file: string,
  seen = new Set<string>(),
  bare = new Set<string>(),
): Set<string> {
  if (seen.has(file)) return bare;
  seen.add(file);
  const source = readFileSync(file, "utf8");
  for (const m of source.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g,
  )) {
    const spec = (m[1] ?? m[2])!;
    if (spec.startsWith(".")) staticImports(path.resolve(path.dirname(file), spec), seen, bare);
    else
      bare.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
  }
  return bare;
}

describe("the built package", () => {
  const subpaths = Object.entries(pkg.exports).filter(([, t]) => typeof t === "object");

  it("has been built", () => {
    for (const [subpath, target] of subpaths) {
      const t = target as { types: string; default: string };
      assert.ok(
        existsSync(path.join(root, t.default)),
        `${subpath}: ${t.default} missing (run npm run build)`,
      );
      assert.ok(existsSync(path.join(root, t.types)), `${subpath}: ${t.types} missing`);
    }
  });

  for (const [subpath, target] of subpaths) {
    const specifier = subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    it(`imports ${specifier} with its contract exports`, async () => {
      const mod = (await import(specifier)) as Record<string, unknown>;
      for (const name of CONTRACT[subpath] ?? []) {
        assert.ok(name in mod, `${specifier} must export ${name}`);
      }
      assert.ok(Object.keys(mod).length > 0);
    });

    it(`${specifier} statically loads no heavy dependency of another subpath`, () => {
      const file = path.join(root, (target as { default: string }).default);
      const deps = staticImports(file);
      for (const [heavy, allowed] of Object.entries(HEAVY)) {
        if (deps.has(heavy)) assert.ok(allowed.includes(subpath), `${specifier} loads ${heavy}`);
      }
    });
  }

  it("ids work from dist as documented", async () => {
    const { Snowflake, createMediaIdGenerator, parseMachineId } =
      await import("matrix-media-kit/ids");
    const sf = new Snowflake({ machineId: parseMachineId("5") });
    assert.equal(Snowflake.deconstruct(sf.nextString()).machineId, 5);
    assert.match(createMediaIdGenerator({ snowflake: sf }).next(), /^[A-Za-z0-9_-]{32}$/);
    const { MediaError } = await import("matrix-media-kit");
    assert.throws(() => parseMachineId("abc"), /MACHINE_ID/);
    assert.equal(new MediaError("M_NOT_FOUND", "x").status, 404);
  });
});
