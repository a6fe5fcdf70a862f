/**
 * @module bench/cpuprofile-top
 * Top self-time functions of a V8 CPU profile:
 * `node dist/bench/cpuprofile-top.js FILE.cpuprofile [COUNT]`.
 *
 * Make one with e.g. `node --cpu-prof --cpu-prof-dir=/tmp/prof bin/lifeboat.js backup ...`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  micros: number;
  share: number;
}

/** Self time per function (name, file, line), largest first. */
export function selfTimes(profile: Profile): SelfTime[] {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byNode = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    byNode.set(id, (byNode.get(id) ?? 0) + dt);
    total += dt;
  });
  const byFunction = new Map<string, number>();
  for (const [id, micros] of byNode) {
    const frame = nodes.get(id)!.callFrame;
    const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
    const name = `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  }
  return [...byFunction]
    .map(([name, micros]) => ({ name, micros, share: micros / total }))
    .sort((a, b) => b.micros - a.micros);
}

function main(): void {
  const [file, count = '25'] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile [COUNT]');
    process.exitCode = 2;
    return;
  }
  const times = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const total = times.reduce((sum, t) => sum + t.micros, 0);
  console.log(`total sampled: ${(total / 1e6).toFixed(2)} s`);
  for (const t of times.slice(0, Number(count))) {
    console.log(
      `${(t.micros / 1e6).toFixed(2).padStart(7)} s ${(100 * t.share).toFixed(1).padStart(5)}%  ${t.name}`,
    );
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) main();
