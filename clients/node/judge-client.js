#!/usr/bin/env node
// An independent client of the MIS judge, written against the proto files
// only (no generated Python in sight): the example for teams calling the judge
// from JavaScript. Needs @grpc/grpc-js and @grpc/proto-loader (the repository's
// package.json pins both).
//
//   node clients/node/judge-client.js --address HOST:PORT [--token TOKEN]
//        [--ca ca.pem] [--mode batch|stream|info] ITEMS.json
//
// ITEMS.json is a list of {"item_id", "question", "images": [file paths], "response"}.
// Prints one JSON object per result to stdout; gRPC errors go to stderr as JSON
// {"code", "details"} with exit status 1.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

function parseArgs(argv) {
  const args = { mode: 'batch', files: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag.startsWith('--')) {
      args[flag.slice(2)] = argv[i + 1];
      i += 1;
    } else {
      args.files.push(flag);
    }
  }
  if (!args.address) throw new Error('--address HOST:PORT is required');
  return args;
}

function loadJudgeService() {
  const definition = protoLoader.loadSync('mis/v1/judge.proto', {
    includeDirs: [PROTO_ROOT],
    keepCase: true, // field names exactly as in the proto
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).mis.v1.JudgeService;
}

function readItems(file, baseDir) {
  return JSON.parse(fs.readFileSync(file, 'utf8')).map((item) => ({
    item_id: item.item_id,
    question: item.question,
    response: item.response,
    images: item.images.map((image) => ({ data: fs.readFileSync(path.resolve(baseDir, image)) })),
  }));
}

function metadataFor(token) {
  const metadata = new grpc.Metadata();
  if (token) metadata.add('authorization', `Bearer ${token}`);
  return metadata;
}

function fail(error) {
  process.stderr.write(`${JSON.stringify({ code: grpc.status[error.code], details: error.details })}\n`);
  process.exit(1);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const JudgeService = loadJudgeService();
  const credentials = args.ca
    ? grpc.credentials.createSsl(fs.readFileSync(args.ca))
    : grpc.credentials.createInsecure();
  const client = new JudgeService(args.address, credentials, {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const metadata = metadataFor(args.token);
  const deadline = () => new Date(Date.now() + 30000);

  if (args.mode === 'info') {
    client.GetJudgeInfo({}, metadata, { deadline: deadline() }, (error, reply) => {
      if (error) fail(error);
      process.stdout.write(`${JSON.stringify(reply)}\n`);
      client.close();
    });
    return;
  }
  const file = args.files[0];
  const items = readItems(file, path.dirname(file));
  if (args.mode === 'batch') {
    client.JudgeBatch({ items }, metadata, { deadline: deadline() }, (error, reply) => {
      if (error) fail(error);
      for (const result of reply.results) process.stdout.write(`${JSON.stringify(result)}\n`);
      client.close();
    });
  } else if (args.mode === 'stream') {
    const call = client.JudgeStream(metadata, { deadline: deadline() });
    call.on('data', (reply) => process.stdout.write(`${JSON.stringify(reply.result)}\n`));
    call.on('error', fail);
    call.on('end', () => client.close());
    for (const item of items) call.write({ item });
    call.end();
  } else {
    throw new Error(`--mode must be batch, stream or info, not ${args.mode}`);
  }
}

main();
