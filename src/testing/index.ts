/**
 * Conformance suites for third-party drivers, built on `node:test`.
 *
 * @module
 */
export * from "./datastore.js";
export * from "./cache.js";
export * from "./metadata.js";
