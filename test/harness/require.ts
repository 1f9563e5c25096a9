import { spawnSync } from "node:child_process";

/**
 * Asserts that a binary the tests need is installed. Missing: throws with the Debian
 * package that provides it (never a silent skip, in CI or elsewhere).
 */
export function requireService(binary: string, debianPackage: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error(
      `${binary} is required by this test but was not found on PATH: install the Debian package ` +
        `"${debianPackage}" (apt-get install -y ${debianPackage}); .ci/run does this on CI`,
    );
  }
  return path;
}
