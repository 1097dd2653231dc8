#!/usr/bin/env node
// `versioned-jwt-auth` (the package's bin) and `npx versioned-jwt-auth`.
import { runCli } from "./cli.js";

process.exitCode = await runCli(process.argv.slice(2));
