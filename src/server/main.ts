// `npm start` and the Docker image: the service, configured from the environment.
import { runCli } from "./cli.js";

process.exitCode = await runCli(["start", ...process.argv.slice(2)]);
