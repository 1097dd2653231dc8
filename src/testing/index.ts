// `versioned-jwt-auth/testing`: the contracts of the public ports as vitest
// suites, and the in-memory reference store. Needs vitest (a dev dependency
// of yours); nothing else of the package loads it.
export { testAuthStore, type AuthStoreSuiteOptions } from "./auth-store-suite.js";
export { testUserCache, type UserCacheSuiteOptions } from "./user-cache-suite.js";
export { createMemoryAuthStore } from "../adapters/memory-auth-store.js";
