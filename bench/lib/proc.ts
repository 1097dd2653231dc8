import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";

/** Clock ticks per second for /proc/<pid>/stat times (100 on every Linux we know of). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export const HAS_TASKSET = (() => {
  try {
    execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

/**
 * Starts `node <args>` in its own process group (so `killGroup` takes any
 * grandchildren with it), pinned to `cpu` when taskset exists.
 */
export function spawnNode(
  args: string[],
  cpu: number | null,
  options: Omit<SpawnOptions, "detached">,
): ChildProcess {
  const command = cpu !== null && HAS_TASKSET ? "taskset" : process.execPath;
  const fullArgs =
    cpu !== null && HAS_TASKSET ? ["-c", String(cpu), process.execPath, ...args] : args;
  const child = spawn(command, fullArgs, { ...options, detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

const live = new Set<ChildProcess>();

/** SIGTERM to the child's process group, SIGKILL after `graceMs`. */
export async function killGroup(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  signalGroup(child, "SIGTERM");
  const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Last resort on exit or interrupt: no orphan servers or load generators. */
export function killAllSync(): void {
  for (const child of live) signalGroup(child, "SIGKILL");
}

let exitHooked = false;
export function killChildrenOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once("exit", killAllSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAllSync();
      process.exit(130);
    });
  }
}

/** User + system CPU time of the whole process (all threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm)"; utime and stime are fields 14 and 15 of the full line.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS;
}

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : NaN;
}

/** Busy and total time of one CPU since boot, in microseconds, from /proc/stat. */
export function cpuTimes(cpu: number): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return { busy: NaN, total: NaN };
  // user nice system idle iowait irq softirq steal …
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  const scale = 1e6 / CLOCK_TICKS;
  return { busy: busy * scale, total: (busy + idle! + iowait!) * scale };
}

export const rssKb = (pid: number) => statusKb(pid, "VmRSS");
export const peakRssKb = (pid: number) => statusKb(pid, "VmHWM");

/** Resets VmHWM to the current RSS (Linux ≥ 4.0), so each run gets its own peak. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

export function machineDescription() {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    taskset: HAS_TASKSET,
    loadAverage: loadavg().map((value) => Number(value.toFixed(2))),
  };
}
