// Placeholder until the embedded engine is chosen by measurement.
export async function startEmbeddedPostgres(_options: {
  dataDir: string;
  poolSize: number;
}): Promise<{
  url: string;
  version: string;
  stop(): Promise<void>;
}> {
  throw new Error("embedded Postgres is not available in this build");
}
