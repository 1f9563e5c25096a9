// Prints the largest files and functions under src/ and fails when one passes its limit
// (files 400 lines, functions 120). Exceptions are listed below with their reason and are
// repeated in docs/architecture.md.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const root = path.resolve(import.meta.dirname, "..");
const FILE_LIMIT = 400;
const FUNCTION_LIMIT = 120;
/** `file` or `file:function` → why it may pass the limit. */
const EXCEPTIONS = {};

function collect(dir, out = []) {
  for (const entry of readdirSync(dir).sort()) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

function functionName(node) {
  if (node.name !== undefined) return node.name.getText();
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText();
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText();
  if (ts.isConstructorDeclaration(node)) return "constructor";
  return "(anonymous)";
}

const files = [];
const functions = [];
for (const file of collect(path.join(root, "src"))) {
  const rel = path.relative(root, file);
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  files.push({ rel, lines: source.getLineAndCharacterOfPosition(text.length).line + 1 });
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      functions.push({ rel, name: functionName(node), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

files.sort((a, b) => b.lines - a.lines);
functions.sort((a, b) => b.lines - a.lines);
const top = Number(process.env.SIZE_REPORT_TOP ?? 10);
console.log(`largest files (limit ${FILE_LIMIT} lines):`);
for (const f of files.slice(0, top)) console.log(`  ${String(f.lines).padStart(5)}  ${f.rel}`);
console.log(`largest functions (limit ${FUNCTION_LIMIT} lines):`);
for (const f of functions.slice(0, top))
  console.log(`  ${String(f.lines).padStart(5)}  ${f.rel}:${f.line} ${f.name}`);

const over = [
  ...files
    .filter((f) => f.lines > FILE_LIMIT && !(f.rel in EXCEPTIONS))
    .map((f) => `${f.rel} has ${f.lines} lines (limit ${FILE_LIMIT})`),
  ...functions
    .filter((f) => f.lines > FUNCTION_LIMIT && !(`${f.rel}:${f.name}` in EXCEPTIONS))
    .map((f) => `${f.rel}:${f.line} ${f.name} has ${f.lines} lines (limit ${FUNCTION_LIMIT})`),
];
if (over.length > 0) {
  console.error(`\nover the limit:\n  ${over.join("\n  ")}`);
  process.exit(1);
}
