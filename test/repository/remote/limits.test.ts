// Remote fetches under limits (declared size, counted size, deadline, per-origin slots) leave
// nothing behind; remote 404s and failing origins are remembered without network calls.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MediaError } from "../../../src/errors.js";
import {
  assertNothingStored,
  bodyOf,
  countingSource,
  gate,
  REMOTE,
  rejectsWith,
  setup,
} from "./helpers.js";

const BYTES = Buffer.alloc(300 * 1024, 7);

describe("remote media: limits", () => {
  it("a declared size over maxBytes is 502 M_TOO_LARGE before a byte is read", async () => {
    let pulled = 0;
    const source = countingSource(async () => ({
      contentLength: 10_000_000,
      stream: (async function* () {
        pulled++;
        yield BYTES;
      })(),
    }));
    const s = await setup({ source, maxBytes: 100 * 1024 });
    await rejectsWith(s.repo.lookup(REMOTE, "big"), "M_TOO_LARGE", 502, /remote\.maxBytes/);
    assert.equal(pulled, 0);
    await assertNothingStored(s, "big");
  });

  it("counted bytes over maxBytes are 502 M_TOO_LARGE; the partial blob is discarded", async () => {
    const source = countingSource(async () => bodyOf(BYTES, { contentLength: undefined }));
    const s = await setup({ source, maxBytes: 100 * 1024 });
    await rejectsWith(s.repo.lookup(REMOTE, "liar"), "M_TOO_LARGE", 502);
    await assertNothingStored(s, "liar");
    // Not an origin failure: the next media of the origin is fetched.
    await rejectsWith(s.repo.lookup(REMOTE, "liar2"), "M_TOO_LARGE", 502);
    assert.equal(source.calls, 2);
  });

  it("a body shorter than its declared length is 502, nothing recorded", async () => {
    const source = countingSource(async () => bodyOf(BYTES, { contentLength: BYTES.length + 1 }));
    const s = await setup({ source });
    await rejectsWith(s.repo.lookup(REMOTE, "short"), "M_UNKNOWN", 502);
    await assertNothingStored(s, "short");
  });

  it("a never-ending stream is cut at timeoutMs: 504, nothing left behind", async () => {
    const source = countingSource(async () => ({
      stream: (async function* () {
        for (;;) {
          yield Buffer.alloc(1024, 1);
          await new Promise((r) => setTimeout(r, 5));
        }
      })(),
    }));
    const s = await setup({ source, timeoutMs: 300 });
    await rejectsWith(s.repo.lookup(REMOTE, "endless"), "M_UNKNOWN", 504, /remote\.timeoutMs/);
    assert.ok(source.signals[0]!.aborted, "the source's signal was aborted");
    await assertNothingStored(s, "endless");
  });

  it("a stream that stalls (and ignores the signal) is cut at timeoutMs too", async () => {
    const source = countingSource(async () => ({
      stream: (async function* () {
        yield Buffer.alloc(10);
        await new Promise(() => undefined);
      })(),
    }));
    const s = await setup({ source, timeoutMs: 300 });
    await rejectsWith(s.repo.lookup(REMOTE, "stalled"), "M_UNKNOWN", 504);
    await assertNothingStored(s, "stalled");
  });

  it("a remote 404 is remembered for notFoundTtlMs", async () => {
    let clock = 1_700_000_000_000;
    const source = countingSource(async () => {
      throw new MediaError("M_NOT_FOUND", "Not found on the remote");
    });
    const s = await setup({ source, notFoundTtlMs: 60_000 }, { now: () => clock });
    await rejectsWith(s.repo.lookup(REMOTE, "gone"), "M_NOT_FOUND", 404);
    await rejectsWith(s.repo.lookup(REMOTE, "gone"), "M_NOT_FOUND", 404);
    assert.equal(source.calls, 1, "second lookup answered from the 404 cache");
    // Other media of the origin is still fetched: a 404 is not an origin failure.
    await rejectsWith(s.repo.lookup(REMOTE, "other"), "M_NOT_FOUND", 404);
    assert.equal(source.calls, 2);
    clock += 60_001;
    await rejectsWith(s.repo.lookup(REMOTE, "gone"), "M_NOT_FOUND", 404);
    assert.equal(source.calls, 3);
  });

  it("a failing origin is backed off, doubling, and a success clears it", async () => {
    let clock = 1_700_000_000_000;
    let failing = true;
    const source = countingSource(async () => {
      if (failing) throw new Error("connect ECONNREFUSED 127.0.0.1:8448");
      return bodyOf(BYTES);
    });
    const s = await setup(
      { source, failureBackoffMs: 30_000, maxFailureBackoffMs: 600_000 },
      { now: () => clock },
    );
    await rejectsWith(s.repo.lookup(REMOTE, "a"), "M_UNKNOWN", 502, /Could not fetch/);
    await rejectsWith(s.repo.lookup(REMOTE, "b"), "M_UNKNOWN", 502, /unreachable, retrying after/);
    assert.equal(source.calls, 1, "no call while backed off");
    clock += 30_001;
    await rejectsWith(s.repo.lookup(REMOTE, "b"), "M_UNKNOWN", 502, /Could not fetch/);
    assert.equal(source.calls, 2);
    clock += 30_001; // the second backoff is 60 s
    await rejectsWith(s.repo.lookup(REMOTE, "b"), "M_UNKNOWN", 502, /unreachable/);
    assert.equal(source.calls, 2);
    clock += 30_000;
    failing = false;
    assert.equal((await s.repo.lookup(REMOTE, "b")).size, BYTES.length);
    assert.equal(source.calls, 3);
    failing = true;
    await rejectsWith(s.repo.lookup(REMOTE, "c"), "M_UNKNOWN", 502, /Could not fetch/);
    assert.equal(source.calls, 4, "the success cleared the backoff");
  });

  it("a timeout backs the origin off with 504", async () => {
    const clock = 1_700_000_000_000;
    const source = countingSource(() => new Promise(() => undefined));
    const s = await setup({ source, timeoutMs: 200 }, { now: () => clock });
    await rejectsWith(s.repo.lookup(REMOTE, "slow"), "M_UNKNOWN", 504);
    await rejectsWith(s.repo.lookup(REMOTE, "slow2"), "M_UNKNOWN", 504, /unreachable/);
    assert.equal(source.calls, 1);
    await assertNothingStored(s, "slow");
  });

  it("past maxConcurrentPerOrigin + maxQueuedPerOrigin a fetch is 503 M_LIMIT_EXCEEDED", async () => {
    const held = gate();
    const source = countingSource(async () => {
      await held.promise;
      return bodyOf(BYTES);
    });
    const s = await setup({ source, maxConcurrentPerOrigin: 1, maxQueuedPerOrigin: 1 });
    const outcomes = await Promise.allSettled(
      ["q1", "q2", "q3"].map((id) =>
        s.repo.lookup(REMOTE, id).catch((error: unknown) => {
          held.open();
          throw error;
        }),
      ),
    );
    const refused = outcomes.filter((o) => o.status === "rejected");
    assert.equal(refused.length, 1);
    const error = (refused[0] as PromiseRejectedResult).reason as MediaError;
    assert.equal(error.errcode, "M_LIMIT_EXCEEDED");
    assert.equal(error.status, 503);
    assert.ok(error.retryAfterMs !== undefined && error.retryAfterMs > 0);
    assert.equal(source.calls, 2);
  });

  it("bytes of quarantined media stay quarantined when fetched again: 404", async () => {
    const source = countingSource(async () => bodyOf(BYTES));
    const s = await setup({ source });
    const local = await s.repo.upload(BYTES, { uploader: "@alice:example.org" });
    await s.repo.quarantine({ mxc: { origin: "example.org", mediaId: local.record.mediaId } });
    await rejectsWith(s.repo.lookup(REMOTE, "same-bytes"), "M_NOT_FOUND", 404);
    assert.equal((await s.metadata.getMedia(REMOTE, "same-bytes"))?.quarantined, true);
    await rejectsWith(s.repo.lookup(REMOTE, "same-bytes"), "M_NOT_FOUND", 404);
    assert.equal(source.calls, 1);
  });

  it("purgeRemote deletes old remote media; a later lookup fetches it again", async () => {
    let clock = 1_700_000_000_000;
    const source = countingSource(async () => bodyOf(BYTES));
    const s = await setup({ source }, { now: () => clock });
    await s.repo.lookup(REMOTE, "old");
    clock += 1000;
    assert.deepEqual(await s.repo.purgeRemote(clock), { deleted: 1 });
    await assertNothingStored(s, "old");
    await s.repo.lookup(REMOTE, "old");
    assert.equal(source.calls, 2);
  });
});
