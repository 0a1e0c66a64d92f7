#!/usr/bin/env node
// An outside (non-Python) caller of the Ranker contract on grpc-js, straight from protos/: upserts items with
// attributes, then calls Recommend and SimilarItems with filters and prints every reply as one JSON object.
//
//   node bench/js/call_ranker.js --address HOST:PORT --tag TAG --query-item ITEM_ID
//
// tests/contract/test_node_client.py runs it against a real ranker.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    args[name] = argv[i + 1];
  }
  for (const required of ["address", "tag", "queryItem"]) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  return args;
}

function call(client, method, request) {
  const deadline = new Date(Date.now() + 30000);
  return new Promise((resolve, reject) => {
    client[method](request, { deadline }, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const definition = protoLoader.loadSync("kairos/v1/ranker.proto", {
    includeDirs: [PROTOS], keepCase: true, longs: String, enums: String, defaults: false,
  });
  const Ranker = grpc.loadPackageDefinition(definition).kairos.v1.Ranker;
  const client = new Ranker(args.address, grpc.credentials.createInsecure());
  const tag = args.tag;
  const items = [
    { item_id: `${tag}-eu`, text: "A quiet film about a lighthouse keeper", attributes: { tag, region: "eu" },
      published_ms: "1750000000000" },
    { item_id: `${tag}-us`, text: "A loud film about a race car driver", attributes: { tag, region: "us" },
      published_ms: "1750000001000" },
  ];
  const out = {};
  out.upsert = await call(client, "UpsertItems", { items });
  const onlyTag = { include: [{ key: "tag", values: [tag] }] };
  out.recommend = await call(client, "Recommend", { user_id: `${tag}-user`, k: 10, filter: onlyTag });
  out.recommendEu = await call(client, "Recommend", {
    user_id: `${tag}-user`, k: 10,
    filter: { include: onlyTag.include, exclude: [{ key: "region", values: ["us"] }] },
  });
  out.similarNewer = await call(client, "SimilarItems", {
    item_id: args.queryItem, k: 10, filter: { include: onlyTag.include, published_after_ms: "1750000000500" },
  });
  try {
    await call(client, "Recommend", { user_id: "u", k: 5, filter: { include: [{ key: "", values: ["x"] }] } });
    out.badFilter = null;
  } catch (err) {
    out.badFilter = { code: err.code, details: err.details };
  }
  client.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
