// Only ASCII is folded. Unicode case mapping and compatibility normalisation
// fold *different* characters together ("\u212A" KELVIN SIGN lower-cases to
// "k", "ı".toUpperCase() is "I", NFKC turns "ｅ" into "e"), which is how two
// distinct addresses end up naming one account.
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const ASCII_UPPER = /[A-Z]+/g;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Emails are stored and compared with surrounding ASCII whitespace removed
 * and A–Z lower-cased, and nothing else: two inputs normalise to the same
 * string only if they differ in ASCII letter case or surrounding whitespace.
 */
export function normalizeEmail(email: string): string {
  return email.replace(EDGE_WHITESPACE, "").replace(ASCII_UPPER, (s) => s.toLowerCase());
}

/** Addresses are accepted in printable ASCII only (IDN domains in their xn-- form). */
export function isPrintableAscii(value: string): boolean {
  return PRINTABLE_ASCII.test(value);
}
