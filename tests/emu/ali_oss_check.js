// Drives a running ossemu with the official Node SDK (ali-oss): V1 and V4 signatures, STS,
// put/get/head/getObjectMeta/list/listV2/multipart/copy/delete, and a refused wrong secret.
// Usage: node ali_oss_check.js <port>  (ossemu started with --access-key-id ak
// --access-key-secret sk --bucket emu-test=memory). Exits non-zero on the first mismatch.
'use strict';
const path = require('path');
const assert = require('assert');
const OSS = require(path.join(__dirname, '..', 'node', 'node_modules', 'ali-oss'));

const port = process.argv[2];
const endpoint = `http://127.0.0.1:${port}`;

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
