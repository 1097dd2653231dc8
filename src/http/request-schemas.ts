import { z } from "zod";
import { InvalidRequestError } from "../core/errors.js";
import { isPrintableAscii, normalizeEmail } from "../core/email.js";
import {
  isAcceptableName,
  isAcceptablePassword,
  NAME_MAX_LENGTH,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
} from "../core/input-policy.js";

const email = z
  .string()
  .max(320)
  .transform(normalizeEmail)
  .refine(isPrintableAscii, { message: "must be ASCII" })
  .pipe(z.email({ message: "must be an email address" }).max(254));

const password = (minLength: number) =>
  z.string().refine((value) => isAcceptablePassword(value, minLength), {
    message: `must be ${minLength} to ${PASSWORD_MAX_LENGTH} characters`,
  });

// Unknown keys are refused rather than dropped: a typo or an attempt to set
// something we do not accept (an id, a version, __proto__) gets a 400.
export const registerBody = z.strictObject({
  email,
  password: password(PASSWORD_MIN_LENGTH),
  name: z
    .string()
    .trim()
    .refine(isAcceptableName, {
      message: `must be 1 to ${NAME_MAX_LENGTH} characters, none of them control characters`,
    })
    .nullish()
    .transform((value) => value ?? null),
});

// Login does not re-check the password policy: a failing password is just wrong.
export const loginBody = z.strictObject({
  email,
  password: password(1),
});

// A refresh token is checked by the service; here only its shape as a string.
export const refreshBody = z.strictObject({
  refreshToken: z.string().min(1).max(512),
});

export const logoutBody = z.strictObject({
  scope: z.enum(["global", "local", "others"]).optional(),
});

export const passwordBody = z.strictObject({
  currentPassword: password(1),
  newPassword: password(PASSWORD_MIN_LENGTH),
});

// An unknown key is named in the answer (it is what the client must fix),
// trimmed to something printable and short: it is the client's own text.
const MAX_KEY_IN_DETAILS = 64;
const printableKey = (key: string) =>
  key.replace(/[^\x20-\x7e]/g, "?").slice(0, MAX_KEY_IN_DETAILS);

/** Parses or throws a 400 that names the failing fields without echoing values. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new InvalidRequestError(
    result.error.issues.flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => ({ path: printableKey(key), message: "unknown key" }))
        : [
            {
              path: issue.path.map(String).join("."),
              // Our own refinement messages are fixed text; zod's may quote input, so only codes.
              message: issue.code === "custom" ? issue.message : issue.code,
            },
          ],
    ),
  );
}
