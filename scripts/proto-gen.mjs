#!/usr/bin/env node
// Regenerates proto/gen/*.ts from proto/*.proto with the npm protoc and ts-proto.
// `--out DIR` writes elsewhere (the staleness test compares a fresh run with the committed copy).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outIndex = process.argv.indexOf('--out');
const outDir = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : join(root, 'proto', 'gen');
const protoDir = join(root, 'proto');
const files = readdirSync(protoDir)
  .filter((f) => f.endsWith('.proto'))
  .sort();

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const options = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'forceLong=number',
  'env=node',
  'importSuffix=.js',
  'useOptionals=messages',
  'oneof=unions-value',
  'outputTypeRegistry=false',
].join(',');
execFileSync(
  join(root, 'node_modules', '.bin', 'protoc'),
  [
    `--plugin=protoc-gen-ts_proto=${join(root, 'node_modules', '.bin', 'protoc-gen-ts_proto')}`,
    `--ts_proto_out=${outDir}`,
    `--ts_proto_opt=${options}`,
    `-I`,
    protoDir,
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);
console.log(`generated ${files.length} proto files into ${outDir}`);
