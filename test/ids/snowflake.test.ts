import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { MediaError } from "../../src/errors.js";
import { Snowflake, SNOWFLAKE_EPOCH } from "../../src/ids/index.js";

/** A fake clock that advances 1 ms every `callsPerMs` reads, and can be stepped. */
function fakeClock(start: number, callsPerMs = 1) {
  let t = start;
  let calls = 0;
  return {
    now: () => {
      if (++calls % callsPerMs === 0) t++;
      return t;
    },
    step: (ms: number) => {
      t += ms;
    },
    get value() {
      return t;
    },
  };
}

describe("Snowflake", () => {
  it("issues 10M strictly increasing IDs", () => {
    const sf = new Snowflake({ machineId: 1 });
    let prev = -1n;
    for (let i = 0; i < 10_000_000; i++) {
      const id = sf.next();
      if (id <= prev) assert.fail(`ID ${i} (${id}) is not greater than ${prev}`);
      prev = id;
    }
  });

  it("nextString equals next() in decimal and keeps increasing", () => {
    const sf = new Snowflake({ machineId: 1023 });
    let prev = -1n;
    for (let i = 0; i < 200_000; i++) {
      const s = i % 2 === 0 ? sf.nextString() : sf.next().toString();
      assert.match(s, /^[1-9][0-9]*$/);
      const v = BigInt(s);
      assert.ok(v > prev);
      prev = v;
    }
  });

  it("4 generators with distinct machine IDs in parallel processes never collide", async () => {
    const perProcess = 250_000;
    const script = new URL("./fixtures/generate.ts", import.meta.url).pathname;
    const results = await Promise.all(
      [3, 4, 5, 6].map(async (machineId) => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", script, String(machineId), String(perProcess)],
          {
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        const chunks: Buffer[] = [];
        child.stdout.on("data", (c: Buffer) => chunks.push(c));
        const [code] = (await once(child, "close")) as [number];
        assert.equal(code, 0);
        return Buffer.concat(chunks).toString().trim().split("\n");
      }),
    );
    const all = new Set(results.flat());
    assert.equal(all.size, 4 * perProcess);
    for (const [i, ids] of results.entries()) {
      assert.equal(ids.length, perProcess);
      for (const id of ids.slice(0, 100)) assert.equal(Snowflake.deconstruct(id).machineId, 3 + i);
    }
  });

  for (const stepBack of [5, 10_000]) {
    it(`stays strictly increasing when the clock steps back ${stepBack} ms`, () => {
      const clock = fakeClock(SNOWFLAKE_EPOCH + 1_000_000, 3);
      const sf = new Snowflake({ machineId: 9, now: clock.now });
      const seen = new Set<bigint>();
      let prev = -1n;
      for (let i = 0; i < 50_000; i++) {
        if (i === 20_000) clock.step(-stepBack);
        const id = sf.next();
        assert.ok(id > prev, `ID ${i} went backwards`);
        assert.ok(!seen.has(id));
        seen.add(id);
        prev = id;
      }
    });
  }

  it("issues 10,000 IDs within one fake millisecond without wrapping the sequence", () => {
    // The clock stands still for 10,000 IDs; after 4,096 the generator must wait for it.
    let reads = 0;
    const base = SNOWFLAKE_EPOCH + 5_000;
    const now = () => base + Math.floor(reads++ / 10_000);
    const sf = new Snowflake({ machineId: 2, now });
    const ids = Array.from({ length: 10_000 }, () => sf.next());
    assert.equal(new Set(ids).size, 10_000);
    const parts = ids.map((id) => sf.deconstruct(id));
    assert.equal(parts[0]!.timestamp, base);
    assert.equal(parts[4095]!.sequence, 4095);
    assert.equal(parts[4095]!.timestamp, base);
    assert.ok(parts[4096]!.timestamp > base, "the 4,097th ID moved to a later millisecond");
    assert.equal(parts[4096]!.sequence, 0);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!);
  });

  it("throws a MediaError instead of wrapping when the clock never advances", () => {
    const sf = new Snowflake({ machineId: 2, now: () => SNOWFLAKE_EPOCH + 10, maxWaitMs: 20 });
    for (let i = 0; i < 4096; i++) sf.next();
    assert.throws(
      () => sf.next(),
      (err: unknown) => err instanceof MediaError && /maxWaitMs/.test(err.message),
    );
  });

  it("refuses out-of-range machine IDs with RangeError, never masking them", () => {
    for (const machineId of [-1, 1024, 4200, 1.5, Number.NaN]) {
      assert.throws(
        () => new Snowflake({ machineId }),
        (err: unknown) => {
          assert.ok(err instanceof RangeError);
          assert.match(err.message, /machineId/);
          return true;
        },
      );
    }
  });

  for (const [label, offset] of [
    ["epoch + 30 days", 30 * 86_400_000],
    ["epoch + 69 years", Math.floor(69 * 365.25 * 86_400_000)],
  ] as const) {
    it(`deconstruct round-trips at ${label}, as bigint and as decimal string`, () => {
      const at = SNOWFLAKE_EPOCH + offset;
      const sf = new Snowflake({ machineId: 1023, now: () => at });
      sf.next();
      sf.next();
      const big = sf.next();
      const str = sf.nextString();
      for (const [id, seq] of [
        [big, 2],
        [str, 3],
      ] as const) {
        const d = Snowflake.deconstruct(id);
        assert.equal(d.timestamp, at);
        assert.equal(d.machineId, 1023);
        assert.equal(d.sequence, seq);
        assert.equal(Snowflake.compose(d), d.id);
      }
      assert.equal(BigInt(str), big + 1n);
      assert.equal(
        big,
        (BigInt(offset) << 22n) | (1023n << 12n) | 2n,
        "bit layout: 41-bit time | 10-bit machine | 12-bit sequence",
      );
    });
  }

  it("refuses IDs past the 41-bit range instead of overflowing", () => {
    const sf = new Snowflake({ machineId: 0, now: () => SNOWFLAKE_EPOCH + 2 ** 41 });
    assert.throws(() => sf.next(), MediaError);
    const before = new Snowflake({ machineId: 0, now: () => SNOWFLAKE_EPOCH - 1 });
    assert.throws(() => before.next(), MediaError);
  });

  it("stops issuing IDs once its signal aborts", () => {
    const controller = new AbortController();
    const sf = new Snowflake({ machineId: 0, signal: controller.signal });
    sf.next();
    controller.abort(new Error("lease lost"));
    assert.throws(
      () => sf.nextString(),
      (err: unknown) => err instanceof MediaError && err.status === 503,
    );
  });

  it("nextInto writes the same 8 big-endian bytes as next()", () => {
    const at = SNOWFLAKE_EPOCH + Math.floor(60 * 365.25 * 86_400_000) + 777;
    const a = new Snowflake({ machineId: 517, now: () => at });
    const b = new Snowflake({ machineId: 517, now: () => at });
    for (let i = 0; i < 5; i++) {
      const buf = Buffer.alloc(8);
      a.nextInto(buf);
      assert.equal(buf.readBigUInt64BE(0), b.next());
    }
  });
});
