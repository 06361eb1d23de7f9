#!/usr/bin/env node
// Generates randomized OSS signing cases with the official ali-oss SDK (lib/common/signUtils.js)
// and prints them as JSON on stdout; tests/oss/test_node_sign.cc checks ossuring's signer
// agrees on every case. Usage: node gen_sign_cases.js [count] [seed]
'use strict';

let signUtils;
try {
  signUtils = require('ali-oss/lib/common/signUtils.js');
} catch (e) {
  process.stderr.write(
    'gen_sign_cases.js: cannot load ali-oss (' + e.message + ').\n' +
      'Install the pinned test dependencies first: npm ci --prefix tests/node\n');
  process.exit(2);
}

const count = Number(process.argv[2] || 200);
let seed = Number(process.argv[3] || 20231216) >>> 0;

// mulberry32: a small deterministic generator so failures reproduce.
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = a => a[Math.floor(rand() * a.length)];
const chance = p => rand() < p;
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const keyPieces = [
  'a', 'dir/', 'sub dir/', 'file.txt', '+', '%', '%2F', '..', '.', ' ', '  ', '~', '*', "'",
  '(x)', '!', '&', '=', '?', '#', '[]', '中文', 'é', '😀', 'a+b', '100%', '\t', ';', ',', '@',
  '$', ':', '\\', '"', '<>', '^', '`', '{}', '|'
];

function randomKey() {
  if (chance(0.05)) {
    return 'long/' + 'k'.repeat(int(200, 1000));
  }
  let k = '';
  const n = int(1, 8);
  for (let i = 0; i < n; i++) k += pick(keyPieces);
  return k;
}

// Sub-resources V1 signs (a sample of the reference list) and parameters it must ignore.
const signedParams = [
  ['acl', null], ['uploads', null], ['uploadId', 'ID+/= x'], ['partNumber', '7'],
  ['objectMeta', null], ['tagging', null], ['symlink', null], ['stat', null],
  ['continuation-token', 'tok en+%'], ['versionId', 'CAEQ=='], ['x-oss-process', 'image/resize,w_100'],
  ['response-content-type', 'text/plain; charset=utf-8'], ['security-token', 'tok'],
  ['position', '0'], ['append', null], ['delete', null], ['restore', null], ['sequential', null]
];
const unsignedParams = [
  ['list-type', '2'], ['prefix', 'a b/'], ['delimiter', '/'], ['max-keys', '1000'],
  ['marker', 'm+1'], ['start-after', 'x y'], ['fetch-owner', 'true'], ['encoding-type', 'url']
];
const v4ExtraParamChars = ['a', 'Z', '+', '|', ' ', '%', '-', '_', '.', '~', '中', '=', '&', '/'];

function randomParams(allowOdd) {
  const params = {};
  const n = int(0, 5);
  for (let i = 0; i < n; i++) {
    const [k, v] = pick(chance(0.6) ? signedParams : unsignedParams);
    params[k] = v;
  }
  if (allowOdd && chance(0.5)) {
    let k = '';
    const len = int(1, 6);
    for (let i = 0; i < len; i++) k += pick(v4ExtraParamChars);
    params[k] = chance(0.3) ? null : pick(['', 'v', 'a b', '+x', '中文', '1%2']);
    if (params[k] === '') params[k] = null;
  }
  return params;
}

function paddedValue() {
  const core = pick(['value', 'a b', 'x=y;z', '1', 'with,comma', 'UPPER', 'tab\tinside']);
  return pick(['', ' ', '  ', '\t']) + core + pick(['', ' ', '\t ']);
}

function randomHeaders() {
  const h = {};
  if (chance(0.5)) h['Content-Type'] = pick(['text/plain', 'application/octet-stream', 'image/png']);
  if (chance(0.3)) h['Content-MD5'] = 'eB5eJF1ptWaXm4bijSPyxw==';
  const n = int(0, 4);
  for (let i = 0; i < n; i++) {
    const name = pick(['x-oss-meta-author', 'X-OSS-Meta-Magic', 'x-oss-storage-class',
      'x-oss-object-acl', 'x-oss-meta-a', 'X-Oss-Forbid-Overwrite', 'x-oss-range-behavior']);
    if (!Object.keys(h).some(k => k.toLowerCase() === name.toLowerCase())) {
      h[name] = paddedValue();
    }
  }
  const m = int(0, 3);
  for (let i = 0; i < m; i++) {
    const name = pick(['Range', 'If-Match', 'Host', 'abc', 'ZAbc', 'Cache-Control', 'Expires']);
    if (!Object.keys(h).some(k => k.toLowerCase() === name.toLowerCase())) {
      h[name] = paddedValue();
    }
  }
  return h;
}

function v4Date(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

const encode = s => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const byteCompare = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

// ali-oss sorts raw query keys with localeCompare; OSS (and ossuring, and the Go/Python SDKs)
// sort encoded keys bytewise. Cases where the two orders differ are skipped as ambiguous.
function sameOrder(keys) {
  const a = [...keys].sort((x, y) => x.localeCompare(y)).map(encode);
  const b = keys.map(encode).sort(byteCompare);
  return a.every((v, i) => v === b[i]);
}

const toPairs = obj => Object.entries(obj).map(([k, v]) => [k, v === null ? '' : String(v)]);

const cases = [];
let skipped = 0;
while (cases.length < count) {
  const version = chance(0.5) ? 1 : 4;
  const ak = pick(['ak', 'LTAI5tExampleId', 'STS.NTest']);
  const sk = pick(['sk', 'secret/with+chars=', 'x'.repeat(30)]);
  const token = chance(0.3) ? pick(['token', 'CAIS+long/token==']) : '';
  const time = int(1500000000, 1900000000);
  const date = new Date(time * 1000);
  const level = rand();
  const bucket = level < 0.05 ? '' : pick(['bucket', 'examplebucket', 'my-bkt-01']);
  const key = bucket === '' || level < 0.2 ? '' : randomKey();
  const method = pick(['GET', 'PUT', 'HEAD', 'POST', 'DELETE']);
  const headers = randomHeaders();
  if (token) headers['x-oss-security-token'] = token;

  if (version === 1) {
    headers['x-oss-date'] = date.toUTCString();
    const params = randomParams(false);
    const signed = {};
    for (const [k, v] of Object.entries(params)) {
      if (signedParams.some(([n]) => n === k)) signed[k] = v;
    }
    const resource = bucket === '' ? '/' : `/${bucket}/${key}`;
    const canonical = signUtils.buildCanonicalString(method, resource, { headers, parameters: signed });
    const authorization = signUtils.authorization(ak, sk, canonical);
    cases.push({ version, method, bucket, key, time, ak, sk, token, query: toPairs(params),
      headers: Object.entries(headers), string_to_sign: canonical, authorization });
  } else {
    headers['x-oss-date'] = v4Date(date);
    headers['x-oss-content-sha256'] = 'UNSIGNED-PAYLOAD';
    const params = randomParams(true);
    if (!sameOrder(Object.keys(params))) {
      skipped++;
      continue;
    }
    const region = pick(['cn-hangzhou', 'cn-beijing', 'ap-southeast-1']);
    const candidates = Object.keys(headers).filter(k => {
      const l = k.toLowerCase();
      return !l.startsWith('x-oss-') && l !== 'content-type' && l !== 'content-md5';
    });
    const additional = candidates.filter(() => chance(0.5));
    if (chance(0.2)) additional.push('Content-Type');  // dropped: always signed
    const fixed = signUtils.fixAdditionalHeaders(additional);
    const lowered = {};
    for (const [k, v] of Object.entries(headers)) lowered[k.toLowerCase()] = v;
    const canonical = signUtils.getCanonicalRequest(method, { headers: lowered, queries: params },
      bucket || undefined, key || undefined, fixed);
    const authorization = signUtils.authorizationV4(ak, sk, region, method,
      { headers, queries: params }, bucket || undefined, key || undefined,
      additional.filter(h => h !== 'Content-Type' || headers[h] !== undefined));
    cases.push({ version, method, bucket, key, time, ak, sk, token, region, query: toPairs(params),
      headers: Object.entries(headers), additional_headers: additional,
      canonical_request: canonical, authorization });
  }
}

process.stdout.write(JSON.stringify({ generator: 'ali-oss ' + require('ali-oss/package.json').version,
  skipped_ambiguous_order: skipped, cases }, null, 1) + '\n');
