import { z } from "zod";
import { InvalidRequestError } from "../core/errors.js";
import { normalizeEmail } from "../core/email.js";

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

const email = z
  .string()
  .max(320)
  .transform(normalizeEmail)
  .pipe(z.email({ message: "must be an email address" }).max(254));

export const registerBody = z.object({
  email,
  password: z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH),
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .nullish()
    .transform((value) => value ?? null),
});

// Login does not re-check the password policy: a failing password is just wrong.
export const loginBody = z.object({
  email,
  password: z.string().min(1).max(PASSWORD_MAX_LENGTH),
});

/** Parses or throws a 400 that names the failing fields without echoing values. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new InvalidRequestError(
    result.error.issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.code,
    })),
  );
}
