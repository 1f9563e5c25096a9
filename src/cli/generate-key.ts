// `matrix-media-kit generate-key`: a new ed25519 signing key in Synapse's key-file format, with
// the public half, so an operator can give the key to the media server and publish it from
// the homeserver.
import { parseArgs } from "node:util";
import { formatSigningKey, generateSigningKey } from "../federation/index.js";
import { UsageError, type CliIo } from "./migrate.js";

export const GENERATE_KEY_USAGE = `Usage: matrix-media-kit generate-key [--version a_media]

Prints a new ed25519 signing key in Synapse's signing-key format ("ed25519 <version> <seed>")
on stdout, and its key ID and public key on stderr. Save stdout as the media server's
federation.signingKeyPath, and append the same line to the homeserver's signing key file so
that it publishes the key (see docs/federation.md, "Deploying beside a homeserver").

Options:
  --version V   the key version (letters, digits, underscore), default a_<random>
  -h, --help    this text
`;

/** @internal */
export function runGenerateKey(argv: string[], io: CliIo): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      version: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(GENERATE_KEY_USAGE);
    return 0;
  }
  if (values.version !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(values.version)) {
    throw new UsageError(
      `--version must be letters, digits or _ (got ${JSON.stringify(values.version)})`,
    );
  }
  const key = generateSigningKey(values.version);
  io.stdout.write(formatSigningKey(key));
  io.stderr.write(`key ID ${key.keyId}, public key ${key.publicKeyBase64}\n`);
  return 0;
}
