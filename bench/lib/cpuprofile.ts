import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by function, largest first. */
  functions: { name: string; where: string; selfMs: number; selfPercent: number }[];
  /**
   * By package: `owned` charges node internals and native code (socket
   * writes, hashing, GC excepted) to the nearest package frame that called
   * them; `inclusive` is time with the package anywhere on the stack.
   */
  packages: { name: string; ownedPercent: number; inclusivePercent: number }[];
}

/** Where a frame comes from: an npm package, node itself, our code, or V8. */
function origin(rawUrl: string, functionName: string): string {
  if (!rawUrl) return functionName.startsWith("(") ? functionName : "(native)";
  // Compiled runs load src and bench from dist/bench/{src,bench}.
  const url = rawUrl.replace("/dist/bench/", "/");
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:"))
    return `node:${url.slice(5).split("/")[url.includes("internal") ? 1 : 0]}`;
  const ours = /\/(src|bench)\/(.*)$/.exec(url);
  if (ours) return ours[1] === "src" ? `src/${ours[2]!.split("/")[0]}` : "bench";
  return url;
}

export function summariseProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<number, number>();
  const inclusiveByPackage = new Map<string, number>();
  const ownedByPackage = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    total += delta;
    self.set(id, (self.get(id) ?? 0) + delta);
    const seen = new Set<string>();
    let owner: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const from = origin(frame.url, frame.functionName);
      seen.add(from);
      if (owner === undefined && !from.startsWith("node:") && from !== "(native)") owner = from;
    }
    owner ??= "(node internals)";
    ownedByPackage.set(owner, (ownedByPackage.get(owner) ?? 0) + delta);
    for (const name of seen)
      inclusiveByPackage.set(name, (inclusiveByPackage.get(name) ?? 0) + delta);
  });

  const byFunction = new Map<string, { name: string; where: string; self: number }>();
  for (const [id, time] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = url
      ? `${url.replace(/^.*\/(node_modules|src|bench)\//, "$1/")}:${lineNumber + 1}`
      : "";
    const key = `${functionName}@${where}`;
    const entry = byFunction.get(key) ?? { name: functionName || "(anonymous)", where, self: 0 };
    entry.self += time;
    byFunction.set(key, entry);
  }
  const pct = (value: number) => Math.round((value / total) * 1000) / 10;
  return {
    totalMs: Math.round(total / 1000),
    functions: [...byFunction.values()]
      .sort((a, b) => b.self - a.self)
      .slice(0, top)
      .map((f) => ({
        name: f.name,
        where: f.where,
        selfMs: Math.round(f.self / 1000),
        selfPercent: pct(f.self),
      })),
    packages: [...ownedByPackage.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, time]) => ({
        name,
        ownedPercent: pct(time),
        inclusivePercent: pct(inclusiveByPackage.get(name) ?? 0),
      })),
  };
}
