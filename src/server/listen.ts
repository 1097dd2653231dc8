import type { Server } from "node:http";
import { StartupError } from "./startup-error.js";

/** Listens, or explains in one line why it cannot (a port in use, no privilege). */
export function listenOrExplain(
  server: Server,
  port: number,
  host: string | undefined,
  name: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(
        error.code === "EADDRINUSE"
          ? new StartupError(
              `${name} ${port} is in use by another process; set ${name} to a free port`,
            )
          : error.code === "EACCES"
            ? new StartupError(`${name} ${port} needs privileges this process does not have`)
            : error,
      );
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}
