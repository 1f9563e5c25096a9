// Video fixtures, all made here with Debian's ffmpeg (lavfi sources) or written byte by byte.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const FFMPEG = "/usr/bin/ffmpeg";

/** A scratch directory for one test file's fixtures. */
export async function scratch(): Promise<{ dir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "video-fixtures-"));
  return { dir, done: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs ffmpeg with `args` (quiet, overwriting) and returns the bytes of `out` in `dir`. */
export async function ffmpeg(dir: string, out: string, args: string[]): Promise<Buffer> {
  const file = path.join(dir, out);
  await run(FFMPEG, ["-hide_banner", "-loglevel", "error", "-y", ...args, file], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return readFile(file);
}

/** Writes `bytes` into `dir` as `name` and returns its path. */
export async function put(dir: string, name: string, bytes: Buffer | string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

/** A lavfi input of a solid colour. */
export const color = (c: string, size: string, seconds: number, rate = 25): string[] => [
  "-f",
  "lavfi",
  "-i",
  `color=c=${c}:s=${size}:r=${rate}:d=${seconds}`,
];

/** Replaces the 2-byte EBML PixelWidth (0xB0) and PixelHeight (0xBA) values of a Matroska file. */
export function forgeMatroskaSize(mkv: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(mkv);
  for (const [id, value] of [
    [0xb0, width],
    [0xba, height],
  ] as const) {
    const at = out.indexOf(Buffer.from([id, 0x82]));
    if (at < 0) throw new Error(`no 2-byte element ${id.toString(16)} in the fixture`);
    out.writeUInt16BE(value, at + 2);
  }
  return out;
}

/** A loopback TCP listener that counts the connections it gets. */
export async function connectionCounter(): Promise<{
  port: number;
  count: () => number;
  close: () => Promise<void>;
}> {
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    count: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Child processes of this process (`pgrep -l -P`), to assert that no ffmpeg is left behind;
 * the TypeScript loader's own esbuild service is not ours.
 */
export async function childProcesses(): Promise<string[]> {
  try {
    const { stdout } = await run("pgrep", ["-l", "-P", String(process.pid)]);
    return stdout.split("\n").filter((line) => line !== "" && !/\besbuild\b/.test(line));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** A stored ZIP archive with one small file in it. */
export function zipArchive(): Buffer {
  const name = Buffer.from("clip.mp4");
  const data = Buffer.from("not a video at all");
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(name.length, 26);
  return Buffer.concat([local, name, data]);
}
