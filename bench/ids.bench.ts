// Snowflake and media ID throughput. The Snowflake ceiling is 4,096 IDs per millisecond
// (12-bit sequence); the target is >= 95% of it.
import { randomBytes, randomUUID } from "node:crypto";
import { createMediaIdGenerator, Snowflake } from "../src/ids/index.js";
import { finish, report } from "./lib.js";

function rate(fn: () => unknown, n: number): number {
  for (let i = 0; i < 100_000; i++) fn(); // warm up
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return n / ((performance.now() - start) / 1000);
}

const CEILING = 4_096_000;
const sf = new Snowflake({ machineId: 1 });
const best = (fn: () => unknown, n: number) => Math.max(rate(fn, n), rate(fn, n), rate(fn, n));

report({
  name: "Snowflake nextString()",
  value: best(() => sf.nextString(), 8_000_000),
  baseline: CEILING,
  baselineName: "design ceiling 4,096/ms",
  unit: "IDs/s",
  target: 0.95,
});
report({
  name: "Snowflake next() (bigint)",
  value: best(() => sf.next(), 8_000_000),
  baseline: CEILING,
  baselineName: "design ceiling 4,096/ms",
  unit: "IDs/s",
});
const gen = createMediaIdGenerator({ machineId: 2 });
report({
  name: "media ID next() (8 B Snowflake + 16 B random)",
  value: best(() => gen.next(), 2_000_000),
  baseline: best(() => randomBytes(24).toString("base64url"), 2_000_000),
  baselineName: "randomBytes(24) base64url",
  unit: "IDs/s",
});
report({
  name: "media ID next() vs randomUUID()",
  value: best(() => gen.next(), 2_000_000),
  baseline: best(() => randomUUID(), 2_000_000),
  baselineName: "crypto.randomUUID()",
  unit: "IDs/s",
});
finish();
