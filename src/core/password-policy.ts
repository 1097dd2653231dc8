export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
// With the u flag a paired surrogate is one code point; only lone ones are Cs.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Length in Unicode code points, so a limit means the same for "a" and "😀"
 * (a JavaScript `length` counts UTF-16 units and would halve it for emoji).
 */
export function passwordLength(password: string): number {
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
  const length = passwordLength(password);
  return length >= minLength && length <= PASSWORD_MAX_LENGTH;
}
