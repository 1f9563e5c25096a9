import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { readFederationMultipart } from "../../../src/federation/multipart.js";
import { multipart } from "./helpers.js";

const B = "b0undary-XYZ";
const TYPE = `multipart/mixed; boundary=${B}`;

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function chunked(buffer: Buffer, ...cuts: number[]): Readable {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, buffer.length]) {
    pieces.push(buffer.subarray(from, cut));
    from = cut;
  }
  return Readable.from(pieces.filter((p) => p.length > 0));
}

async function rejectsMultipart(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: any) => {
    assert.equal(error.status, 502);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("readFederationMultipart", () => {
  // Body bytes that look like boundaries but are not delimiters (no CRLF before, or cut short).
  const media = Buffer.from(`--${B} x\r\n--${B.slice(0, -1)}Q\r\n-${B}\r\n\r\n--\r\nend`);
  const whole = multipart(
    B,
    '{"a":1}',
    "Content-Type: text/plain\r\nContent-Disposition: inline",
    media,
  );

  it("parses the parts with the boundary split at every offset (two chunks)", async () => {
    for (let cut = 1; cut < whole.length; cut++) {
      const { json, part } = await readFederationMultipart(chunked(whole, cut), TYPE);
      assert.deepEqual(json, { a: 1 });
      assert.equal(part.headers["content-type"], "text/plain");
      assert.equal(part.headers["content-disposition"], "inline");
      assert.deepEqual(await collect(part.stream!), media, `cut at ${cut}`);
    }
  });

  it("parses one byte at a time and with a quoted boundary", async () => {
    const bytes = [...whole].map((b) => Buffer.from([b]));
    const { part } = await readFederationMultipart(
      Readable.from(bytes),
      `multipart/mixed; boundary="${B}"`,
    );
    assert.deepEqual(await collect(part.stream!), media);
  });

  it("returns a Location part without a stream", async () => {
    const body = Buffer.from(
      `--${B}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${B}\r\nLocation: https://cdn.test/x\r\n\r\n\r\n--${B}--\r\n`,
    );
    const { part } = await readFederationMultipart(chunked(body), TYPE);
    assert.equal(part.location, "https://cdn.test/x");
    assert.equal(part.stream, undefined);
  });

  it("refuses a 10 MB JSON part after reading little of it", async () => {
    let pulled = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    async function* huge() {
      yield Buffer.from(`--${B}\r\nContent-Type: application/json\r\n\r\n{"x":"`);
      for (let i = 0; i < 160; i++) {
        pulled++;
        yield chunk;
      }
    }
    await rejectsMultipart(
      readFederationMultipart(Readable.from(huge()), TYPE),
      /JSON part is larger/,
    );
    assert.ok(pulled <= 3, `pulled ${pulled} chunks of 64 KiB`);
  });

  it("refuses a missing second part, a wrong boundary, a truncated body, a non-JSON first part", async () => {
    const onlyJson = Buffer.from(
      `--${B}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${B}--\r\n`,
    );
    await rejectsMultipart(
      readFederationMultipart(chunked(onlyJson), TYPE),
      /media part is missing/,
    );
    await rejectsMultipart(
      readFederationMultipart(chunked(whole), "multipart/mixed; boundary=other"),
      /ends inside the preamble/,
    );
    const truncated = whole.subarray(0, whole.length - B.length - 6);
    const { part } = await readFederationMultipart(chunked(truncated, 10), TYPE);
    await rejectsMultipart(collect(part.stream!), /ends before the closing boundary/);
    const cutAfterBoundary = whole.subarray(0, whole.length - 4);
    const second = await readFederationMultipart(chunked(cutAfterBoundary), TYPE);
    await rejectsMultipart(collect(second.part.stream!), /ends before the closing boundary/);
    const textFirst = Buffer.from(
      whole.toString("latin1").replace("application/json", "text/html"),
      "latin1",
    );
    await rejectsMultipart(
      readFederationMultipart(chunked(textFirst), TYPE),
      /not application\/json/,
    );
  });

  it("refuses other content types and missing or invalid boundaries without reading", async () => {
    for (const type of [
      undefined,
      "text/html",
      "multipart/mixed",
      "multipart/mixed; boundary=",
      `multipart/mixed; boundary="${"x".repeat(71)}"`,
    ]) {
      const body = chunked(whole);
      await rejectsMultipart(readFederationMultipart(body, type), /multipart\/mixed|boundary/);
      assert.equal(body.destroyed, true);
    }
  });

  it("destroying the media stream destroys the source", async () => {
    const source = new Readable({ read() {} });
    source.push(whole.subarray(0, whole.length - 20));
    const { part } = await readFederationMultipart(source, TYPE);
    part.stream!.destroy();
    await new Promise((r) => setImmediate(r));
    assert.equal(source.destroyed, true);
  });
});
