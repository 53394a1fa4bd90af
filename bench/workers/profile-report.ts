// Reads .cpuprofile files written by `node --cpu-prof` around bench/workers/profile-send.ts and prints, per
// profile, the CPU of the measured sends only (samples inside the driver's `window`), in ms per message:
// - self time by where the code lives: the repository's own files (core/, providers/, stores/), each package in
//   node_modules, Node's internals, the garbage collector, the rest;
// - the top self-time functions;
// - inclusive time of mailroute's own steps of a send (validation, prepare, routing, health, limits, events...).
//
//   node bench/workers/profile-report.ts PROFILE.cpuprofile '{"startUs":…,"endUs":…}' COUNT [TOP]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = new URL('../../', import.meta.url).href;

export interface Attribution {
  /** Sampled µs inside the window. */
  total: number;
  /** Self time by where the code lives. */
  places: Map<string, number>;
  /** Self time charged to the nearest repository or package frame, by mailroute step (µs). */
  attributed: Map<string, number>;
  /** Self time by function. */
  functions: Map<string, number>;
  /** Inclusive time of mailroute's own functions. */
  inclusive: Map<string, number>;
}

/** The samples of `profile` inside `window` (the measured sends), attributed as described above. */
export function attributeProfile(profile: Profile, window: { startUs: number; endUs: number }): Attribution {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  /** Where a frame's code lives. */
  function place(frame: CallFrame): string {
    const { url, functionName } = frame;
    if (!url) {
      if (functionName === '(garbage collector)') return '(garbage collector)';
      if (functionName === '(program)' || functionName === '(idle)' || functionName === '(root)') return functionName;
      return '(native / builtin)';
    }
    if (url.startsWith('node:')) return 'node internals';
    const nm = url.lastIndexOf('/node_modules/');
    if (nm >= 0) {
      const rest = url.slice(nm + '/node_modules/'.length).split('/');
      return `npm ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
    }
    if (url.startsWith(ROOT)) {
      const path = url.slice(ROOT.length);
      const parts = path.split('/');
      // bench/ is the driver; core/, providers/ and stores/ are mailroute, by folder.
      return `repo ${parts.length > 2 ? parts.slice(0, 2).join('/') : parts[0]}`;
    }
    return url;
  }

  const short = (f: CallFrame) => {
    const url = f.url.startsWith(ROOT) ? f.url.slice(ROOT.length) : f.url.replace(/^.*\/node_modules\//, '');
    return `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
  };

  // Sample times: startTime plus the running sum of timeDeltas; each sample weighs the delta to the next one.
  const self = new Map<number, number>();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const next = profile.timeDeltas[i + 1] ?? 0;
    if (t < window.startUs || t > window.endUs) continue;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + next);
    total += next;
  }

  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);

  const places = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    add(places, place(frame), us);
    add(functions, `${place(frame)} | ${short(frame)}`, us);
  }

  // Inclusive time of mailroute's own functions: every repo function on a sample's stack (each counted once).
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const frame = byId.get(n)!.callFrame;
      if (!frame.url.startsWith(ROOT) || frame.url.includes('/node_modules/') || frame.url.includes('/bench/'))
        continue;
      const key = short(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      add(inclusive, key, us);
    }
  }

  // Each sample charged to the nearest frame on its stack that is code of the repository or of a package (Node's
  // internals and builtins are charged to whoever called them: a structuredClone to the store that clones), by
  // mailroute step; the promise hooks of an AsyncLocalStorage apart, and GC as it is.
  const STEPS: [RegExp, string][] = [
    [/core\/message\/(validate|address|json-bounds|recipients|paths|json-schema)\.ts$/, 'validation (core/message)'],
    [/core\/message\/compose\.ts$/, 'prepare / compose (core/message/compose.ts)'],
    [/core\/routing\/(health|health-policy)\.ts$/, 'health (core/routing/health*.ts)'],
    [/core\/routing\/(rate-limit|attempt-gate)\.ts$/, 'limits (rate-limit.ts, attempt-gate.ts)'],
    [/core\/routing\//, 'routing, failover, senders (core/routing)'],
    [/core\/events\//, 'events: suppression screen, correlation (core/events)'],
    [/core\/state\//, 'idempotency (core/state)'],
    [/core\/util\/log/, 'logging (core/util/log.ts)'],
    [/core\/mailer\.ts$/, 'Mailer.send itself (core/mailer.ts)'],
    [/core\//, 'other core'],
    [/stores\//, 'state store (stores/)'],
    [/providers\/http\//, 'adapter: connect watch, agents (providers/http)'],
    [/providers\//, 'adapter (providers/<provider>)'],
    [/bench\//, 'driver (bench/)'],
  ];
  function step(url: string): string {
    const path = url.slice(ROOT.length);
    return STEPS.find(([re]) => re.test(path))?.[1] ?? path;
  }
  /** The work of the promise and async hooks an AsyncLocalStorage turns on (not what runs inside its `run`). */
  const HOOKS =
    /^(promise(Init|Before|After|Resolve)Hook|_propagate|lookupPublicResource|getOrSetAsyncId|emit(Init|Before|After|Destroy)Script|(push|pop)AsyncContext|executionAsyncResource|newAsyncId)$/;
  const WRAPPERS = /\/providers\/http\/(agents|smithy-handler)\.ts$/;
  const attributed = new Map<string, number>();
  for (const [id, us] of self) {
    let key: string | undefined;
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const { url, functionName } = byId.get(n)!.callFrame;
      if (/async_hooks|async_local_storage/.test(url) && HOOKS.test(functionName)) {
        key = 'async hooks (AsyncLocalStorage promise hooks)';
        break;
      }
      if (!url) {
        if (n === id && /^\((garbage collector|idle|program)\)$/.test(functionName)) {
          key = functionName;
          break;
        }
        continue;
      }
      if (url.startsWith('node:')) continue;
      const nm = url.lastIndexOf('/node_modules/');
      if (nm >= 0) {
        const rest = url.slice(nm + '/node_modules/'.length).split('/');
        const pkg = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
        key = pkg === 'zod' || pkg === 'cockatiel' ? `${pkg} (called by mailroute)` : `package ${pkg}`;
        break;
      }
      // The adapters' hooks into Node's HTTP (the agents' addRequest and createConnection, the smithy handler's
      // handle) call Node's and the SDK's own work, which the raw side does too: only their own code is theirs.
      if (n !== id && WRAPPERS.test(url)) continue;
      key = url.startsWith(ROOT) ? step(url) : url;
      break;
    }
    add(attributed, key ?? '(node internals, no JS caller: event loop, sockets, microtasks)', us);
  }

  return { total, places, attributed, functions, inclusive };
}

// As a command: node bench/workers/profile-report.ts PROFILE.cpuprofile WINDOW COUNT [TOP]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, windowJson, countArg, topArg] = process.argv.slice(2);
  const profile = JSON.parse(readFileSync(file!, 'utf8')) as Profile;
  const window = JSON.parse(windowJson!) as { startUs: number; endUs: number };
  const count = Number(countArg);
  const TOP = Number(topArg ?? 30);
  const { total, places, attributed, functions, inclusive } = attributeProfile(profile, window);
  const perMsg = (us: number) => (us / 1000 / count).toFixed(4);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  const windowMs = (window.endUs - window.startUs) / 1000;
  console.log(`${file}: ${count} messages, window ${windowMs.toFixed(0)} ms, ${(total / 1000).toFixed(0)} ms sampled`);
  console.log(`sampled ms per message: ${perMsg(total)} (idle included in "(idle)")`);
  console.log('\nself time by place (ms/msg):');
  for (const [k, us] of sorted(places)) console.log(`  ${perMsg(us).padStart(8)}  ${k}`);
  console.log('\nsamples charged to the nearest repository or package frame (ms/msg):');
  for (const [k, us] of sorted(attributed)) console.log(`  ${perMsg(us).padStart(8)}  ${k}`);
  console.log(`\ntop ${TOP} self-time functions (ms/msg):`);
  for (const [k, us] of sorted(functions).slice(0, TOP)) console.log(`  ${perMsg(us).padStart(8)}  ${k}`);
  console.log(`\ntop ${TOP} mailroute functions by inclusive time (ms/msg):`);
  for (const [k, us] of sorted(inclusive).slice(0, TOP)) console.log(`  ${perMsg(us).padStart(8)}  ${k}`);
}
