// One sandboxed run of ffmpeg or ffprobe: no shell, an empty environment, stdin closed, the
// CPU, address-space, open-file, file-size and core limits applied by prlimit before exec,
// its own process group (so a deadline kills everything it started) and a bounded stdout.
import { spawn } from "node:child_process";

/** The limits every run gets. @internal */
export interface SandboxLimits {
  readonly prlimitPath: string;
  readonly cpuSeconds: number;
  readonly memoryBytes: number;
  readonly maxOpenFiles: number;
  /** 0: not set (see the `maxProcesses` option). */
  readonly maxProcesses: number;
}

/** How one run ended. @internal */
export interface SandboxResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  /** The end of stderr (ffmpeg's last words are the useful ones). */
  readonly stderr: string;
  readonly timedOut: boolean;
  /** Stdout went past `maxStdoutBytes`, and the process was killed. */
  readonly overflow: boolean;
}

const STDERR_KEPT = 4096;

/** The prlimit arguments for `limits`. @internal */
export function prlimitArgs(limits: SandboxLimits): string[] {
  return [
    `--cpu=${limits.cpuSeconds}`,
    `--as=${limits.memoryBytes}`,
    `--nofile=${limits.maxOpenFiles}`,
    ...(limits.maxProcesses > 0 ? [`--nproc=${limits.maxProcesses}`] : []),
    // ffmpeg writes to stdout only: no regular file may grow, and no core dump is written.
    "--fsize=0",
    "--core=0",
  ];
}

/** Kills the process group led by `pid`; a group already gone is fine. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: nothing is left of it.
  }
}

/**
 * Runs `binary args` under `limits`, killing its process group at `timeoutMs` or when stdout
 * passes `maxStdoutBytes`. Never rejects for the child's own failures: the caller reads them
 * from the result. Rejects only when prlimit itself cannot be started.
 * @internal
 */
export function runSandboxed(
  binary: string,
  args: readonly string[],
  limits: SandboxLimits,
  run: { readonly timeoutMs: number; readonly maxStdoutBytes: number },
): Promise<SandboxResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(limits.prlimitPath, [...prlimitArgs(limits), "--", binary, ...args], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { LC_ALL: "C" },
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = "";
    let timedOut = false;
    let overflow = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, run.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      if (overflow) return;
      size += chunk.length;
      if (size > run.maxStdoutBytes) {
        overflow = true;
        chunks.length = 0;
        killGroup(child.pid);
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      stderr = (stderr + text).slice(-STDERR_KEPT);
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      // Whatever the leader left behind goes with it.
      killGroup(child.pid);
      resolve({ code, signal, stdout: Buffer.concat(chunks), stderr, timedOut, overflow });
    });
  });
}
