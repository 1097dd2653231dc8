import request from "supertest";
import type { Express } from "express";
import { expect } from "vitest";

export const PASSWORD = "correct horse battery staple";

export async function register(app: Express, email: string, password = PASSWORD, name?: string) {
  const res = await request(app).post("/register").send({ email, password, name });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.user as { id: string; email: string; name: string | null };
}

export async function login(app: Express, email: string, password = PASSWORD) {
  const res = await request(app).post("/login").send({ email, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.accessToken as string;
}

export function me(app: Express, token: string) {
  return request(app).get("/me").set("Authorization", `Bearer ${token}`);
}

export function logout(app: Express, token: string) {
  return request(app).post("/logout").set("Authorization", `Bearer ${token}`);
}

let counter = 0;
export function uniqueEmail(tag = "user"): string {
  counter += 1;
  return `${tag}-${process.pid}-${counter}-${Date.now()}@example.com`;
}

export interface Pair {
  accessToken: string;
  refreshToken: string;
  refreshExpiresIn: number;
  expiresIn: number;
  tokenType: "Bearer";
  user: { id: string; email: string; name: string | null };
}

/** A login that keeps the whole answer: access and refresh token. */
export async function loginPair(
  app: Express,
  email: string,
  password = PASSWORD,
  userAgent = "test",
) {
  const res = await request(app)
    .post("/login")
    .set("User-Agent", userAgent)
    .send({ email, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Pair;
}

export function refresh(app: Express, refreshToken: string) {
  return request(app).post("/refresh").send({ refreshToken });
}

export function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}
