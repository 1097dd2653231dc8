export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
// With the u flag a paired surrogate is one code point; only lone ones are Cs.
const LONE_SURROGATE = /\p{Cs}/u;
// Control characters (NUL among them, which Postgres refuses) and lone surrogates.
const UNSAFE_TEXT = /[\p{Cc}\p{Cs}]/u;
export const NAME_MAX_LENGTH = 100;

/**
 * Length in Unicode code points, so a limit means the same for "a" and "😀"
 * (a JavaScript `length` counts UTF-16 units and would halve it for emoji).
 */
export function codePointLength(password: string): number {
  let count = 0;
  for (let i = 0; i < password.length; i++) {
    const unit = password.charCodeAt(i);
    // A high surrogate followed by a low one is a single code point.
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = password.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/**
 * Lone surrogates cannot be encoded as UTF-8; the hasher would turn each into
 * U+FFFD, so different inputs would hash alike. They are refused instead.
 */
export function isAcceptablePassword(password: string, minLength = PASSWORD_MIN_LENGTH): boolean {
  if (LONE_SURROGATE.test(password)) return false;
  const length = codePointLength(password);
  return length >= minLength && length <= PASSWORD_MAX_LENGTH;
}

/** A display name: 1 to 100 characters, no control characters, well-formed. */
export function isAcceptableName(name: string): boolean {
  if (UNSAFE_TEXT.test(name)) return false;
  const length = codePointLength(name);
  return length >= 1 && length <= NAME_MAX_LENGTH;
}
