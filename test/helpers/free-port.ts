import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * Ports are picked below the kernel's ephemeral range. A port the kernel
 * handed out for `listen(0)` is an ephemeral one, and between the probe and
 * the server's start any outgoing connection (a client's PING, a replica's
 * link) or another `listen(0)` (a proxy) may take it as its own: then
 * EADDRINUSE, or worse, another process answering on the port.
 */
const range = (() => {
  let ephemeralLow = 32768;
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low && low > 2048) ephemeralLow = low;
  } catch {
    // Not Linux: 32768 is below the usual ranges (49152 and up) too.
  }
  const high = Math.min(ephemeralLow, 32768) - 1;
  return { low: Math.max(1024, high - 12_000), high };
})();

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
    if (await listens(port)) return port;
  }
  throw new Error(`no free port from ${range.low} to ${range.high}`);
}

/** `count` free ports, all different (a port freed by one probe can be handed out again). */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
