import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
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
}

export interface LiveServer {
  port: number;
  /** One request on a keep-alive connection. */
  send(req: RawRequest): Promise<RawResponse>;
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
          agent,
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

  return {
    port,
    send,
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
