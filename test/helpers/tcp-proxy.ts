import { createConnection, createServer, type Socket } from "node:net";

/**
 * Which way bytes are held: "upstream" is client → target, "downstream" is
 * target → client.
 */
export type ProxyDirection = "upstream" | "downstream" | "both";

/**
 * A TCP proxy from a local port to a target that a test can hold: while held,
 * bytes in the held direction are buffered instead of forwarded, and every
 * socket stays open, so neither end notices anything but silence (a partition
 * that TCP keepalives would not see yet). Put it on a replication link and
 * the replica silently misses writes.
 */
export interface TcpProxy {
  /** The local port clients connect to. */
  port: number;
  /** Stop forwarding in `direction` (default both); connections opened meanwhile are held too. */
  hold(direction?: ProxyDirection): void;
  /** Forward everything buffered, in order, then forward as usual. */
  release(): void;
  /** Bytes buffered so far, per direction (for assertions and debugging). */
  held(): { upstream: number; downstream: number };
  /** Connections currently open through the proxy. */
  connections(): number;
  /** Stop listening and destroy every connection (buffered bytes are dropped). */
  close(): Promise<void>;
}

interface Pipe {
  direction: "upstream" | "downstream";
  from: Socket;
  to: Socket;
  held: boolean;
  buffer: Buffer[];
  /** `from` ended while held: end `to` once the buffer is flushed. */
  ended: boolean;
}

/**
 * `listenPort`: where the proxy listens (default: any free port; give one
 * chosen together with the other ports of a topology, so that the proxy
 * cannot take one of them before its server starts).
 */
export async function startTcpProxy(
  target: { port: number; host?: string },
  listenPort = 0,
): Promise<TcpProxy> {
  const host = target.host ?? "127.0.0.1";
  const holding = { upstream: false, downstream: false };
  const pipes = new Set<Pipe>();
  const sockets = new Set<Socket>();

  function flush(pipe: Pipe) {
    for (const chunk of pipe.buffer) pipe.to.write(chunk);
    pipe.buffer = [];
    if (pipe.ended) pipe.to.end();
  }

  function connectPipe(direction: Pipe["direction"], from: Socket, to: Socket): Pipe {
    const pipe: Pipe = { direction, from, to, held: holding[direction], buffer: [], ended: false };
    pipes.add(pipe);
    from.on("data", (chunk: Buffer) => {
      if (pipe.held) pipe.buffer.push(chunk);
      else to.write(chunk);
    });
    from.on("end", () => {
      if (pipe.held) pipe.ended = true;
      else to.end();
    });
    return pipe;
  }

  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ port: target.port, host, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const up = connectPipe("upstream", client, upstream);
    const down = connectPipe("downstream", upstream, client);
    // One side gone (reset, refused, destroyed): the other goes too, and what
    // was held for it is lost, as across a partition that ends in a reset.
    const teardown = () => {
      client.destroy();
      upstream.destroy();
      pipes.delete(up);
      pipes.delete(down);
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", teardown);
    upstream.on("error", teardown);
    client.on("close", teardown);
    upstream.on("close", teardown);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    port,
    hold(direction = "both") {
      if (direction !== "downstream") holding.upstream = true;
      if (direction !== "upstream") holding.downstream = true;
      for (const pipe of pipes) pipe.held = holding[pipe.direction];
    },
    release() {
      holding.upstream = false;
      holding.downstream = false;
      for (const pipe of pipes) {
        pipe.held = false;
        flush(pipe);
      }
    },
    held() {
      const total = { upstream: 0, downstream: 0 };
      for (const pipe of pipes) {
        const bytes = pipe.buffer.reduce((sum, chunk) => sum + chunk.length, 0);
        total[pipe.direction] += bytes;
      }
      return total;
    },
    connections: () => sockets.size / 2,
    async close() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      pipes.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
