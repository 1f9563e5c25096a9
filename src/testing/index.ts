/**
 * Conformance suites for third-party drivers, built on `node:test`.
 *
 * @module
 */
export * from "./datastore.js";
export * from "./cache.js";
export * from "./metadata.js";
export * from "./coordination.js";
// The contracts the suites test, and the types those name.
export type * from "../datastore/types.js";
export type { ByteRange } from "../datastore/index.js";
export type * from "../cache/types.js";
export type * from "../metadata/types.js";
export type * from "../coordination/types.js";
export type { MxcUri, MediaKind } from "../mxc.js";
