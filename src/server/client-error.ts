import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { ERROR_CATALOGUE, type ErrorCode } from "../core/errors.js";

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/**
 * Node answers a request it cannot parse (headers over its limit, bad
 * syntax, too slow) before Express sees it, with an empty body. This gives
 * those answers the JSON error shape of every other response. As Node does,
 * it writes only on a connection that has not been written to yet.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || !socket.writable || (socket as Socket).bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    error.code === "HPE_HEADER_OVERFLOW"
      ? "headers_too_large"
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT" || error.code === "HPE_HEADERS_TIMEOUT"
        ? "request_timeout"
        : "invalid_request";
  const { status, message } = ERROR_CATALOGUE[code];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\n` +
      "Content-Type: application/json; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body,
  );
}
