import type { Request } from "express";
import { InvalidRequestError, TokenError } from "../core/errors.js";

/**
 * RFC 6750 §2.1: `Authorization: Bearer <token>`, scheme case-insensitive.
 * With `allowAidHeader`, the legacy `aid: <token>` header is accepted too,
 * but a token in both places is ambiguous and refused.
 */
export function extractBearerToken(req: Request, allowAidHeader: boolean): string {
  const authorization = headerValues(req, "authorization");
  const aid = allowAidHeader ? headerValues(req, "aid") : [];
  if (authorization.length + aid.length > 1) {
    throw new InvalidRequestError([{ path: "authorization", message: "more than one credential" }]);
  }
  const aidToken = aid[0];
  if (aidToken !== undefined) {
    if (aidToken.trim() === "") throw new TokenError("missing_token", "empty aid header");
    return aidToken.trim();
  }
  const header = authorization[0];
  if (header === undefined) throw new TokenError("missing_token", "no authorization header");
  const space = header.indexOf(" ");
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") {
    throw new TokenError("missing_token", "not a bearer credential");
  }
  const token = space === -1 ? "" : header.slice(space + 1).trim();
  if (token === "") throw new TokenError("missing_token", "empty bearer credential");
  if (/\s/.test(token)) {
    throw new InvalidRequestError([{ path: "authorization", message: "more than one token" }]);
  }
  return token;
}

/**
 * Every value of one header, duplicates included (Node keeps only the first
 * `Authorization` in `req.headers`). A scan of `rawHeaders` instead of
 * `req.headersDistinct`, which builds arrays for every header on the hot path.
 */
function headerValues(req: Request, lowerCaseName: string): string[] {
  const raw = req.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerCaseName.length && name.toLowerCase() === lowerCaseName) {
      values.push(raw[i + 1]!);
    }
  }
  return values;
}
