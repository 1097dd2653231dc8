import { describe, expect, it } from "vitest";
import {
  createArgon2PasswordHasher,
  DEFAULT_ARGON2_OPTIONS,
} from "../../src/adapters/argon2-password-hasher.js";

// Test passwords, not secrets. Up to 256 code points, as registration allows.
const PASSWORDS = {
  ascii: "correct horse battery staple",
  unicode: "pässwörd Ünïcödé ñ 中文密码 Ελληνικά",
  emoji: "🔐🦀 emoji 👩‍👩‍👧 password 🎉",
  long256: "0123456789abcdef".repeat(16),
  emoji256: "🔑".repeat(256),
};

// The cheap parameters the flow tests use (FAST_HASHING in helpers/test-app.ts).
const CHEAP = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

// Made with the `argon2` package (0.45.1, node-argon2) before it was replaced
// by @node-rs/argon2: `argon2.hash(password, { type: argon2id, ...params })`,
// default and cheap parameters. Stored hashes look like these; they must keep
// verifying. node-argon2 wrote the parameters as m, p, t.
const OLD_ARGON2_HASHES: {
  params: "default" | "cheap";
  password: keyof typeof PASSWORDS;
  hash: string;
}[] = [
  {
    params: "default",
    password: "ascii",
    hash: "$argon2id$v=19$m=19456,p=1,t=2$56ecIReZYybsTgIyP2PfOg$P1atKYQe6H2nTKYxqBBVUrLH4HKlaIelG2jdLKysBvk",
  },
  {
    params: "default",
    password: "unicode",
    hash: "$argon2id$v=19$m=19456,p=1,t=2$s+BS+6FEs01/YqCoJq76dw$kItyVvO/y2yANPjTvgprmb1XLP9Q5Cm54mFWWurmTWM",
  },
  {
    params: "default",
    password: "emoji",
    hash: "$argon2id$v=19$m=19456,p=1,t=2$pwZLeuhDfl8Oe9Mipw+Cjg$Yn/nmnOmZxo9AiPq/0cXMZQsBsCQXtt8yfW7hjwPZhA",
  },
  {
    params: "default",
    password: "long256",
    hash: "$argon2id$v=19$m=19456,p=1,t=2$p6sRZf2xbqQNmo4dfaLUBg$2y+JSLpmRibdrEOdNUAYTbqLaabtTkw/zU0e7mO9pvA",
  },
  {
    params: "default",
    password: "emoji256",
    hash: "$argon2id$v=19$m=19456,p=1,t=2$uUEiV5wLAOkUzgePtt0GZQ$+MPos7lqcxPWHIWX3rD2Nwr/SqybRGPWgmLqr7hmp/I",
  },
  {
    params: "cheap",
    password: "ascii",
    hash: "$argon2id$v=19$m=1024,p=1,t=1$s1pi9MWNGZ6CQvlq1Hl6/g$LA3yiaOAb4kaBvPGo30YiLTl0zXau7uqyHHNHg1IJIc",
  },
  {
    params: "cheap",
    password: "unicode",
    hash: "$argon2id$v=19$m=1024,p=1,t=1$yoGPzcsHwKma3uajttCBng$GhEE3+tYIZz5OcyRMUPJ+pEt2lmwNkyfrYrnFWeOZuU",
  },
  {
    params: "cheap",
    password: "emoji",
    hash: "$argon2id$v=19$m=1024,p=1,t=1$YgIDdbK75or8Z+BSnHQorA$nPDgjSBO7jPtxFawtDnM6DGc58iuDRhwha39avrPfa8",
  },
  {
    params: "cheap",
    password: "long256",
    hash: "$argon2id$v=19$m=1024,p=1,t=1$0phDEnrCXk7z4GCvrLcYiQ$SXbHeydslgHkLOyDO4qSedGBNIOxMIXNov8IaIqV3nM",
  },
  {
    params: "cheap",
    password: "emoji256",
    hash: "$argon2id$v=19$m=1024,p=1,t=1$231XZMfzcbiptnquKIiPtg$5rI6t8LqRCEWkQZeKTZQykr7m3u1zsoC5t4t1AF028M",
  },
];

const hasher = createArgon2PasswordHasher();
const cheapHasher = createArgon2PasswordHasher(CHEAP);

/** `$argon2id$v=19$<params>$<salt>$<hash>`, salt and hash in unpadded base64. */
function phcParts(phc: string) {
  const match = /^\$(argon2id)\$v=(\d+)\$([^$]+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc);
  if (!match) throw new Error(`not a PHC argon2id string: ${phc}`);
  const [, id, version, params, salt, hash] = match as unknown as string[];
  return {
    id,
    version,
    params: Object.fromEntries(params!.split(",").map((kv) => kv.split("="))),
    saltBytes: Buffer.from(salt!, "base64").length,
    hashBytes: Buffer.from(hash!, "base64").length,
  };
}

const saltOf = (phc: string) => phc.split("$")[4];

describe("hashes made by the old argon2 package", () => {
  for (const fixture of OLD_ARGON2_HASHES) {
    const password = PASSWORDS[fixture.password];
    it(`verify: ${fixture.password}, ${fixture.params} parameters`, async () => {
      await expect(hasher.verify(fixture.hash, password)).resolves.toBe(true);
      await expect(hasher.verify(fixture.hash, `${password}x`)).resolves.toBe(false);
      await expect(hasher.verify(fixture.hash, password.slice(0, -1))).resolves.toBe(false);
      await expect(hasher.verify(fixture.hash, PASSWORDS.ascii.toUpperCase())).resolves.toBe(false);
    });
  }
});

describe("new hashes", () => {
  it("are argon2id v=19 with the default parameters, in the PHC string format", async () => {
    expect(DEFAULT_ARGON2_OPTIONS).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    const phc = await hasher.hash(PASSWORDS.ascii);
    expect(phc.startsWith("$argon2id$v=19$m=19456,t=2,p=1$")).toBe(true);
    expect(phc).toMatch(
      /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
    );
  });

  it("carry the parameters they were made with", async () => {
    const phc = await cheapHasher.hash(PASSWORDS.ascii);
    expect(phc.startsWith("$argon2id$v=19$m=1024,t=1,p=1$")).toBe(true);
  });

  it("have the old hashes' algorithm, version, parameters, 16-byte salt and 32-byte hash", async () => {
    for (const fixture of OLD_ARGON2_HASHES) {
      const made = await (fixture.params === "default" ? hasher : cheapHasher).hash(
        PASSWORDS[fixture.password],
      );
      const fresh = phcParts(made);
      expect(fresh).toEqual(phcParts(fixture.hash));
      expect(fresh).toMatchObject({ id: "argon2id", version: "19", saltBytes: 16, hashBytes: 32 });
    }
  });

  it("verify with the right password only, Unicode included", async () => {
    for (const password of Object.values(PASSWORDS)) {
      const phc = await cheapHasher.hash(password);
      await expect(cheapHasher.verify(phc, password)).resolves.toBe(true);
      await expect(cheapHasher.verify(phc, `${password} `)).resolves.toBe(false);
      // The parameters come from the stored string, not from the verifier.
      await expect(hasher.verify(phc, password)).resolves.toBe(true);
    }
    // NFC and NFD spell the same text with different bytes: different passwords.
    const phc = await cheapHasher.hash("café");
    await expect(cheapHasher.verify(phc, "café".normalize("NFD"))).resolves.toBe(false);
  });

  it("get a fresh salt every time", async () => {
    const hashes = await Promise.all(
      Array.from({ length: 6 }, () => cheapHasher.hash(PASSWORDS.ascii)),
    );
    expect(new Set(hashes.map(saltOf)).size).toBe(hashes.length);
    for (const phc of hashes) {
      await expect(cheapHasher.verify(phc, PASSWORDS.ascii)).resolves.toBe(true);
    }
  });
});

describe("a malformed stored hash", () => {
  const good = OLD_ARGON2_HASHES.find((f) => f.params === "cheap")!.hash;
  const malformed: [string, string][] = [
    ["empty", ""],
    ["plain text", "not a hash"],
    ["only the algorithm", "$argon2id$"],
    ["no salt or hash", "$argon2id$v=19$m=1024,t=1,p=1$"],
    ["truncated", good.slice(0, -10)],
    ["a character outside base64", good.replace("$s1pi", "$s1p!")],
    ["a bcrypt hash", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"],
    ["a non-numeric parameter", good.replace("m=1024", "m=abc")],
    ["an unknown algorithm", good.replace("$argon2id$", "$argon2x$")],
    ["an unknown version", good.replace("v=19", "v=99")],
    ["a 3-byte salt", good.replace("s1pi9MWNGZ6CQvlq1Hl6/g", "AAAA")],
    ["t=0", good.replace("t=1", "t=0")],
    ["no parameters", good.replace("m=1024,p=1,t=1$", "")],
    ["a trailing field", `${good}$extra`],
    ["a NUL byte", `${good}\0`],
    ["another argon2 variant", good.replace("$argon2id$", "$argon2i$")],
    ["a 16-byte hash", good.slice(0, good.lastIndexOf("$") + 1) + "LA3yiaOAb4kaBvPGo30YiA"],
  ];
  for (const [what, stored] of malformed) {
    it(`verifies false without throwing: ${what}`, async () => {
      await expect(cheapHasher.verify(stored, PASSWORDS.ascii)).resolves.toBe(false);
    });
  }
});
