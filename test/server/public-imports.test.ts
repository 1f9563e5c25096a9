// src/server is built only from the kit's public API: every relative import that leaves
// src/server must be a subpath entry file (a file package.json `exports` maps to), never a
// private module of another subpath.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const root = path.resolve(import.meta.dirname, "../..");
const serverDir = path.join(root, "src/server");

/** The source files the `exports` map points at (dist/x/index.js → src/x/index.ts). */
function entryFiles(): Set<string> {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
    exports: Record<string, string | { default: string }>;
  };
  const out = new Set<string>();
  for (const target of Object.values(pkg.exports)) {
    if (typeof target !== "object") continue;
    out.add(path.join(root, target.default.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")));
  }
  return out;
}

/** Every module specifier of a file: static imports and exports, and dynamic `import()`. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      out.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      out.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe("src/server", () => {
  it("imports other modules only through their public subpath entries", () => {
    const entries = entryFiles();
    const files = readdirSync(serverDir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => path.join(serverDir, f));
    assert.ok(files.length > 3, "src/server has its files");
    const offences: string[] = [];
    let crossings = 0;
    for (const file of files) {
      for (const spec of specifiers(file)) {
        if (!spec.startsWith(".")) continue;
        const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
        if (target.startsWith(serverDir + path.sep)) continue;
        crossings++;
        if (!entries.has(target))
          offences.push(`${path.relative(root, file)} imports ${spec}, not a subpath entry`);
      }
    }
    assert.deepEqual(offences, []);
    assert.ok(crossings > 0, "the check saw the server's imports of the kit");
  });
});
