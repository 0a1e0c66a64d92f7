#!/usr/bin/env node
// Open-loop Recommend load generator on grpc-js: the non-Python row of bench/open_loop.py.
//
//   node bench/js/open_loop.js --address HOST:PORT --workload workload.json --rate 500 --seconds 15 \
//       [--warmup-s 2] [--run-id 0] [--timeout-s 5] [--fresh-share 0.2]
//
// The same schedule and calls as bench/open_loop_client.py: call n is due n / rate seconds after the start and is
// launched then, whatever earlier calls are doing; latency counts from that scheduled time (no coordinated
// omission). Calls due in the warm-up are not counted. Prints one JSON summary with the same keys.
"use strict";

const path = require("path");
const fs = require("fs");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const GOLDEN = 0.6180339887498949;
const PROTOS = path.resolve(__dirname, "..", "..", "protos");

function parseArgs(argv) {
  const args = { warmupS: 2, runId: 0, timeoutS: 5, seconds: 15 };
  const names = {
    "--address": "address", "--workload": "workload", "--rate": "rate", "--seconds": "seconds",
    "--warmup-s": "warmupS", "--run-id": "runId", "--timeout-s": "timeoutS", "--fresh-share": "freshShare",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key) throw new Error(`unknown argument ${argv[i]}`);
    args[key] = key === "address" || key === "workload" ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!args.address || !args.workload || !args.rate) throw new Error("--address, --workload and --rate are required");
  return args;
}

// Nearest-rank percentile (q in 0..100) of sorted values; null when empty.
function percentile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))];
}

// Call n of run runId, as Workload.request in bench/open_loop_client.py builds it.
function request(w, n, runId) {
  const u = n % w.user_ids.length;
  const req = { user_id: w.user_ids[u], k: w.k, request_time_ms: String(w.request_time_ms[u]), recent_events: [] };
  if ((n * GOLDEN) % 1.0 < w.fresh_share) {
    const gap = Math.max(1, w.request_time_ms[u] - w.last_event_ms[u] - 1);
    const stamp = w.last_event_ms[u] + 1 + ((runId * 1000003 + n * 7919) % gap);
    const item = w.fresh_items[(n * 31 + runId * 17) % w.fresh_items.length];
    req.recent_events.push({ event_id: `live-${runId}-${n}`, item_id: item, timestamp_ms: String(stamp) });
  }
  return req;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const workload = JSON.parse(fs.readFileSync(args.workload, "utf8"));
  if (args.freshShare !== undefined) workload.fresh_share = args.freshShare;
  const definition = protoLoader.loadSync("kairos/v1/ranker.proto", {
    includeDirs: [PROTOS], keepCase: true, longs: String, enums: String, defaults: false,
  });
  const kairos = grpc.loadPackageDefinition(definition).kairos.v1;
  const client = new kairos.Ranker(args.address, grpc.credentials.createInsecure());
  const count = Math.max(1, Math.round(args.rate * (args.warmupS + args.seconds)));
  const requests = Array.from({ length: count }, (_, n) => request(workload, n, args.runId));
  const scheduled = Float64Array.from({ length: count }, (_, n) => n / args.rate);
  const sent = new Float64Array(count).fill(NaN);
  const done = new Float64Array(count).fill(NaN);
  const errors = new Array(count).fill(null);
  let inFlight = 0;
  let maxInFlight = 0;
  let finished = 0;
  let next = 0;
  let start = 0n;
  const now = () => Number(process.hrtime.bigint() - start) / 1e9;

  function finish() {
    client.close();
    const counted = [];
    for (let n = 0; n < count; n++) if (scheduled[n] >= args.warmupS) counted.push(n);
    const ok = counted.filter((n) => errors[n] === null);
    const latencies = ok.map((n) => (done[n] - scheduled[n]) * 1000).sort((a, b) => a - b);
    const lags = counted.map((n) => (sent[n] - scheduled[n]) * 1000).sort((a, b) => a - b);
    const codes = {};
    for (const n of counted) if (errors[n] !== null) codes[errors[n]] = (codes[errors[n]] || 0) + 1;
    const first = counted.length ? scheduled[counted[0]] : args.warmupS;
    const span = ok.reduce((m, n) => Math.max(m, done[n]), args.warmupS) - first;
    const summary = {
      client: `node ${process.version} @grpc/grpc-js ${require("@grpc/grpc-js/package.json").version}`,
      offered_rps: args.rate,
      seconds: counted.length / args.rate,
      requests: counted.length,
      ok: ok.length,
      errors: counted.length - ok.length,
      error_codes: codes,
      achieved_rps: span > 0 ? ok.length / span : 0,
      p50_ms: percentile(latencies, 50),
      p90_ms: percentile(latencies, 90),
      p99_ms: percentile(latencies, 99),
      p999_ms: percentile(latencies, 99.9),
      max_ms: latencies.length ? latencies[latencies.length - 1] : null,
      mean_ms: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null,
      send_lag_p99_ms: percentile(lags, 99),
      send_lag_max_ms: lags.length ? lags[lags.length - 1] : null,
      max_in_flight: maxInFlight,
    };
    process.stdout.write(JSON.stringify(summary) + "\n");
  }

  function launch(n) {
    sent[n] = now();
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const deadline = new Date(Date.now() + args.timeoutS * 1000);
    client.Recommend(requests[n], { deadline }, (err) => {
      done[n] = now();
      inFlight -= 1;
      if (err) errors[n] = grpc.status[err.code] || String(err.code);
      finished += 1;
      if (finished === count) finish();
    });
  }

  // Launch every call already due, then sleep until the next one is (setTimeout's ~1 ms granularity only
  // delays a launch; the latency still counts from the scheduled time).
  function tick() {
    const t = now();
    while (next < count && scheduled[next] <= t) launch(next++);
    if (next < count) setTimeout(tick, Math.max(0, (scheduled[next] - now()) * 1000));
  }

  client.waitForReady(new Date(Date.now() + 10000), (err) => {
    if (err) throw err;
    start = process.hrtime.bigint();
    tick();
  });
}

main();
