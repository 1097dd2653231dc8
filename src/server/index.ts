// `versioned-jwt-auth/server`: the standalone service as a library, for
// embedding it in a process of your own. `npx versioned-jwt-auth` runs it.
export { startServer, type RunningServer } from "./start-server.js";
export { StartupError } from "./startup-error.js";
export { parseConfig, ConfigError, type ServerConfig } from "./config.js";
export { createApp } from "./app.js";
export { createLogger } from "./logger.js";
export { runCli } from "./cli.js";
export { ENVIRONMENT_VARIABLES } from "./environment.js";
