import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { isPrintableAscii, normalizeEmail } from "../../src/core/email.js";

describe("normalizeEmail", () => {
  it("trims ASCII whitespace and lower-cases A-Z", () => {
    expect(normalizeEmail("  Ada.Lovelace+X@Example.COM\t\r\n")).toBe("ada.lovelace+x@example.com");
  });

  // Each pair is two different addresses that full Unicode case mapping or
  // compatibility normalisation would turn into one.
  const lookalikes: [string, string, string][] = [
    ["KELVIN SIGN lower-cases to k", "\u212Aate@example.com", "kate@example.com"],
    ["dotless ı upper-cases to I", "adm\u0131n@example.com", "admin@example.com"],
    ["dotted İ lower-cases to i + U+0307", "\u0130nfo@example.com", "info@example.com"],
    ["long ſ upper-cases to S", "\u017Fam@example.com", "sam@example.com"],
    ["ß upper-cases to SS", "ma\u00DFe@example.com", "masse@example.com"],
    ["fullwidth ａ is a under NFKC", "\uFF41dmin@example.com", "admin@example.com"],
    ["ligature ﬀ is ff under NFKC", "o\uFB00ice@example.com", "office@example.com"],
    ["ANGSTROM SIGN is Å under NFC", "\u212Bsa@example.com", "\u00C5sa@example.com"],
    ["Cyrillic а looks like a", "\u0430dmin@example.com", "admin@example.com"],
    ["a non-breaking space around", "\u00A0admin@example.com", "admin@example.com"],
  ];
  for (const [why, hostile, victim] of lookalikes) {
    it(`keeps ${JSON.stringify(hostile)} apart from ${JSON.stringify(victim)} (${why})`, () => {
      expect(normalizeEmail(hostile)).not.toBe(normalizeEmail(victim));
      expect(isPrintableAscii(normalizeEmail(hostile))).toBe(false);
    });
  }

  it("changes nothing but ASCII case and surrounding ASCII whitespace (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (input) => {
        const trimmed = input.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
        const out = normalizeEmail(input);
        expect(out.length).toBe(trimmed.length);
        for (let i = 0; i < out.length; i++) {
          const a = trimmed.charCodeAt(i);
          const b = out.charCodeAt(i);
          expect(b === a || (a >= 65 && a <= 90 && b === a + 32)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("makes two inputs equal exactly when they differ only in ASCII case or edge whitespace (property)", () => {
    const trim = (s: string) => s.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    const fold = (code: number) => (code >= 65 && code <= 90 ? code + 32 : code);
    const sameUpToAsciiCase = (x: string, y: string) =>
      x.length === y.length &&
      Array.from({ length: x.length }).every(
        (_, i) => fold(x.charCodeAt(i)) === fold(y.charCodeAt(i)),
      );
    // Few distinct characters, so that equal and near-equal pairs actually come up.
    const char = fc.oneof(
      fc.constantFrom(..."aAkKsSiI \t\u212A\u0131\u0130\u017F\uFF41\u0430\u00DF"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    );
    const text = fc.array(char, { maxLength: 6 }).map((chars) => chars.join(""));
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(normalizeEmail(a) === normalizeEmail(b)).toBe(sameUpToAsciiCase(trim(a), trim(b)));
      }),
      { numRuns: 2000 },
    );
  });
});
