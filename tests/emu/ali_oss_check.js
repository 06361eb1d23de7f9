// Drives a running ossemu with the official Node SDK (ali-oss): V1 and V4 signatures, STS,
// put/get/head/getObjectMeta, objects read from list() and listV2() pages (names, sizes, owners,
// paging, prefixes), multipart (with listUploads/listParts), copy, delete, deleteMulti, the
// bucket's info, ACL and the bucket list, and a refused wrong secret.
// Usage: node ali_oss_check.js <port>  (ossemu started with --access-key-id ak
// --access-key-secret sk first, --bucket emu-test=memory). Exits non-zero on the first mismatch.
'use strict';
const path = require('path');
const assert = require('assert');
const OSS = require(path.join(__dirname, '..', 'node', 'node_modules', 'ali-oss'));

const port = process.argv[2];
const endpoint = `http://127.0.0.1:${port}`;

// The emulator's owner (docs/emulator.md): 10^15 + FNV-1a-64(first access key id) mod 9*10^15,
// whichever key asks. OSS's DisplayName repeats the numeric id.
function ownerIdOf(accessKeyId) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(accessKeyId)) {
    h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return String(1000000000000000n + (h % 9000000000000000n));
}
const ownerId = ownerIdOf('ak');

function checkObject(o, sizes, withOwner) {
  assert.ok(o.name in sizes, `unexpected ${o.name}`);
  assert.strictEqual(o.size, sizes[o.name], `size of ${o.name}`);
  assert.match(o.etag, /^"[0-9A-F]{32}"$/);
  assert.strictEqual(o.type, 'Normal');
  assert.strictEqual(o.storageClass, 'Standard');
  assert.ok(!Number.isNaN(Date.parse(o.lastModified)), o.lastModified);
  if (withOwner) {
    assert.deepStrictEqual(o.owner, { id: ownerId, displayName: ownerId }, `owner of ${o.name}`);
  } else {
    assert.strictEqual(o.owner, null, `listV2 without fetch-owner names no owner (${o.name})`);
  }
}

// Objects read back from list() (V1) and listV2() pages: names, sizes and owners; marker and
// continuation-token paging; prefix + delimiter giving prefixes.
async function listings(c, tag) {
  const base = `${tag}/list/`;
  const names = ['a.txt', 'b/one.bin', 'b/two.bin', 'c d+e.txt', 'z'];
  const sizes = {};
  for (const [i, n] of names.entries()) {
    const body = Buffer.alloc(7 * i + 1, 65 + i);
    await c.put(base + n, body);
    sizes[base + n] = body.length;
  }
  const all = Object.keys(sizes).sort();

  const v1 = await c.list({ prefix: base, 'max-keys': 100 });
  assert.deepStrictEqual(v1.objects.map((o) => o.name), all);
  v1.objects.forEach((o) => checkObject(o, sizes, true));
  assert.strictEqual(v1.isTruncated, false);
  let marker = null;
  const v1Paged = [];
  for (let pages = 1; ; ++pages) {
    const q = { prefix: base, 'max-keys': 2 };
    if (marker) q.marker = marker;
    const page = await c.list(q);
    assert.ok(page.objects.length <= 2);
    page.objects.forEach((o) => checkObject(o, sizes, true));
    v1Paged.push(...page.objects.map((o) => o.name));
    if (!page.isTruncated) {
      assert.strictEqual(pages, 3);
      break;
    }
    marker = page.nextMarker;
    assert.strictEqual(marker, v1Paged[v1Paged.length - 1]);
  }
  assert.deepStrictEqual(v1Paged, all);
  const v1Dirs = await c.list({ prefix: base, delimiter: '/' });
  assert.deepStrictEqual(v1Dirs.prefixes, [`${base}b/`]);
  assert.deepStrictEqual(v1Dirs.objects.map((o) => o.name),
    [`${base}a.txt`, `${base}c d+e.txt`, `${base}z`]);
  v1Dirs.objects.forEach((o) => checkObject(o, sizes, true));

  const v2 = await c.listV2({ prefix: base, 'max-keys': 100 });
  assert.deepStrictEqual(v2.objects.map((o) => o.name), all);
  v2.objects.forEach((o) => checkObject(o, sizes, false));
  assert.strictEqual(v2.keyCount, all.length);
  const v2Owned = await c.listV2({ prefix: base, 'fetch-owner': true });
  assert.deepStrictEqual(v2Owned.objects.map((o) => o.name), all);
  v2Owned.objects.forEach((o) => checkObject(o, sizes, true));
  let token = null;
  const v2Paged = [];
  for (let pages = 1; ; ++pages) {
    const q = { prefix: base, 'max-keys': 2, 'fetch-owner': true };
    if (token) q['continuation-token'] = token;
    const page = await c.listV2(q);
    assert.strictEqual(page.continuationToken, token);
    assert.strictEqual(page.keyCount, page.objects.length);
    page.objects.forEach((o) => checkObject(o, sizes, true));
    v2Paged.push(...page.objects.map((o) => o.name));
    if (!page.isTruncated) {
      assert.strictEqual(pages, 3);
      assert.strictEqual(page.nextContinuationToken, null);
      break;
    }
    token = page.nextContinuationToken;
    assert.ok(token);
  }
  assert.deepStrictEqual(v2Paged, all);
  const v2Dirs = await c.listV2({ prefix: base, delimiter: '/', 'max-keys': 2 });
  assert.deepStrictEqual(v2Dirs.objects.map((o) => o.name), [`${base}a.txt`]);
  assert.deepStrictEqual(v2Dirs.prefixes, [`${base}b/`]);
  assert.strictEqual(v2Dirs.keyCount, 2);
  assert.strictEqual(v2Dirs.isTruncated, true);
  const v2Rest = await c.listV2({ prefix: base, delimiter: '/', 'max-keys': 2,
    'continuation-token': v2Dirs.nextContinuationToken });
  assert.deepStrictEqual(v2Rest.objects.map((o) => o.name), [`${base}c d+e.txt`, `${base}z`]);
  assert.strictEqual(v2Rest.prefixes, null);

  const gone = await c.deleteMulti(all);
  assert.deepStrictEqual(gone.deleted.map((d) => d.Key).sort(), all);
  assert.deepStrictEqual((await c.listV2({ prefix: base })).objects, []);
}

// The bucket as a whole: its info, ACL and place in the bucket list all name the same owner.
async function bucket(c) {
  const info = await c.getBucketInfo('emu-test');
  assert.strictEqual(info.bucket.Name, 'emu-test');
  assert.strictEqual(info.bucket.Location, 'oss-cn-hangzhou');
  assert.deepStrictEqual(info.bucket.Owner, { DisplayName: ownerId, ID: ownerId });
  const acl = await c.getBucketACL('emu-test');
  assert.strictEqual(acl.acl, 'private');
  assert.deepStrictEqual(acl.owner, { id: ownerId, displayName: ownerId });
  const location = await c.getBucketLocation('emu-test');
  assert.strictEqual(location.location, 'oss-cn-hangzhou');
  const buckets = await c.listBuckets();
  assert.deepStrictEqual(buckets.owner, { id: ownerId, displayName: ownerId });
  assert.deepStrictEqual(buckets.buckets.map((b) => [b.name, b.region]),
    [['emu-test', 'oss-cn-hangzhou']]);
}

// A multipart upload in flight, as listUploads and listParts see it.
async function uploadsInFlight(c, tag) {
  const name = `${tag}/in flight.bin`;
  const init = await c.initMultipartUpload(name);
  assert.strictEqual(init.name, name);
  const part = Buffer.alloc(100 * 1024, 3);
  await c.uploadPart(name, init.uploadId, 2, part, 0, part.length);
  const uploads = await c.listUploads({ prefix: `${tag}/` });
  assert.deepStrictEqual(uploads.uploads.map((u) => [u.name, u.uploadId]), [[name, init.uploadId]]);
  const parts = await c.listParts(name, init.uploadId);
  assert.strictEqual(parts.uploadId, init.uploadId);
  assert.strictEqual(parts.parts.PartNumber, '2');
  assert.strictEqual(parts.parts.Size, String(part.length));
  await c.abortMultipartUpload(name, init.uploadId);
  assert.deepStrictEqual((await c.listUploads({ prefix: `${tag}/` })).uploads, []);
}

function client(extra) {
  return new OSS(Object.assign({
    endpoint, bucket: 'emu-test', accessKeyId: 'ak', accessKeySecret: 'sk',
    region: 'oss-cn-hangzhou', retryMax: 0, timeout: 10000,
  }, extra));
}

async function exercise(c, tag) {
  const key = `${tag}/dir/hello world+%.txt`;
  const put = await c.put(key, Buffer.from('hello ' + tag));
  assert.strictEqual(put.res.status, 200);
  const got = await c.get(key);
  assert.strictEqual(got.content.toString(), 'hello ' + tag);
  const head = await c.head(key);
  assert.strictEqual(head.res.headers['content-length'], String(('hello ' + tag).length));
  const meta = await c.getObjectMeta(key);
  assert.strictEqual(meta.status, 200);
  const ranged = await c.get(key, { headers: { Range: 'bytes=0-4' } });
  assert.strictEqual(ranged.content.toString(), 'hello');

  const v1 = await c.list({ prefix: `${tag}/`, delimiter: '/' });
  assert.deepStrictEqual(v1.prefixes, [`${tag}/dir/`]);
  const v2 = await c.listV2({ prefix: `${tag}/dir/`, 'max-keys': 10 });
  assert.strictEqual(v2.objects.length, 1);
  assert.strictEqual(v2.objects[0].name, key);
  await listings(c, tag);
  await uploadsInFlight(c, tag);
  await bucket(c);

  const big = Buffer.alloc(250 * 1024, 7);
  const mp = await c.multipartUpload(`${tag}/multi.bin`, big, { partSize: 100 * 1024 });
  assert.strictEqual(mp.res.status, 200);
  const back = await c.get(`${tag}/multi.bin`);
  assert.ok(Buffer.compare(back.content, big) === 0, 'multipart content');

  const copy = await c.copy(`${tag}/copy.txt`, key);
  assert.strictEqual(copy.res.status, 200);
  assert.strictEqual((await c.get(`${tag}/copy.txt`)).content.toString(), 'hello ' + tag);

  await c.delete(`${tag}/copy.txt`);
  await assert.rejects(c.head(`${tag}/copy.txt`), (e) => e.status === 404);
  await assert.rejects(c.get(`${tag}/nope`), (e) => e.code === 'NoSuchKey');
}

(async () => {
  await exercise(client({}), 'v1');
  await exercise(client({ authorizationV4: true }), 'v4');
  await exercise(client({ accessKeyId: 'stsak', accessKeySecret: 'stssk', stsToken: 'tok' }), 'sts');
  await assert.rejects(client({ accessKeySecret: 'wrong' }).get('v1/dir/hello world+%.txt'),
    (e) => e.code === 'SignatureDoesNotMatch');
  await assert.rejects(client({ accessKeySecret: 'wrong', authorizationV4: true }).get('v1/x'),
    (e) => e.code === 'SignatureDoesNotMatch');
  console.log('ali-oss against ossemu: all checks passed');
})().catch((e) => {
  console.error('FAILED:', e && (e.stack || e));
  process.exit(1);
});
