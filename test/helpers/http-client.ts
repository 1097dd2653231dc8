import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { once } from "node:events";
import { connect, type AddressInfo } from "node:net";
import type { RequestListener } from "node:http";
import { answerClientError } from "../../src/server/client-error.js";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

export interface RawRequest {
  method?: string;
  path?: string;
  /** Sent exactly as given, duplicates included. */
  headers?: readonly (readonly [string, string])[];
  body?: string | Buffer;
  /** On a connection of its own rather than a reused keep-alive one. */
  fresh?: boolean;
}

export interface LiveServer {
  port: number;
  /** One request on a keep-alive connection. */
  send(req: RawRequest): Promise<RawResponse>;
  /** Bytes written to a new socket as they are, for what Node's client refuses to send. */
  sendBytes(bytes: string): Promise<RawResponse>;
  close(): Promise<void>;
}

/**
 * The app on a real port, as the standalone server runs it (with its
 * clientError handler), and a keep-alive client that sends headers verbatim.
 */
export async function listen(app: RequestListener): Promise<LiveServer> {
  const server: Server = createServer(app);
  server.on("clientError", answerClientError);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  function send(req: RawRequest): Promise<RawResponse> {
    // With headers given as a raw list Node adds none of its own, not even Host.
    const headers = (req.headers ?? []).flat();
    if (!req.headers?.some(([name]) => name.toLowerCase() === "host")) {
      headers.unshift("Host", `127.0.0.1:${port}`);
    }
    if (req.body !== undefined) headers.push("Content-Length", String(Buffer.byteLength(req.body)));
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: "127.0.0.1",
          port,
          agent: req.fresh ? false : agent,
          method: req.method ?? "GET",
          path: req.path ?? "/",
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      outgoing.on("error", reject);
      outgoing.end(req.body);
    });
  }

  async function sendBytes(bytes: string): Promise<RawResponse> {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.write(bytes);
    await Promise.race([once(socket, "end"), once(socket, "close")]);
    socket.destroy();
    const raw = Buffer.concat(chunks).toString("utf8");
    const [head = "", text = ""] = raw.split("\r\n\r\n", 2);
    const [statusLine = "", ...lines] = head.split("\r\n");
    const headers: IncomingHttpHeaders = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: Number(statusLine.split(" ")[1] ?? 0), headers, text, json };
  }

  return {
    port,
    send,
    sendBytes,
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
