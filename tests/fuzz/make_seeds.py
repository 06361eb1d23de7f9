"""Writes the seed corpora under corpus/<target>/ (run once; the files are checked in)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


V2 = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>data</Name><Prefix>train/</Prefix><MaxKeys>1000</MaxKeys>
<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><KeyCount>2</KeyCount>
<NextContinuationToken>dHJhaW4vYi5qcGc</NextContinuationToken>
<Contents><Key>train/a.jpg</Key><LastModified>2023-11-14T22:13:20.000Z</LastModified>
<ETag>"5B3C1A2F"</ETag><Type>Normal</Type><Size>110000</Size><StorageClass>Standard</StorageClass>
</Contents><CommonPrefixes><Prefix>train/n01/</Prefix></CommonPrefixes></ListBucketResult>"""
V2_URL = V2.replace("<Key>train/a.jpg</Key>", "<Key>train/a%20b%2Bc%E6%96%87.jpg</Key>") \
    .replace("<Prefix>train/</Prefix>", "<Prefix>train/</Prefix><EncodingType>url</EncodingType>")
V1 = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>data</Name><Prefix></Prefix><Marker></Marker><MaxKeys>2</MaxKeys>
<IsTruncated>true</IsTruncated><NextMarker>b</NextMarker>
<Contents><Key>a</Key><LastModified>2023-11-14T22:13:20.000Z</LastModified><ETag>"X"</ETag>
<Size>1</Size></Contents></ListBucketResult>"""
ERR = """<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message><RequestId>6B04283763CBE6E459320DD7</RequestId>
<HostId>data.localhost</HostId><StringToSign>GET\n\n\nDate\n/data/</StringToSign></Error>"""

put("list_objects", "v2.xml", V2)
put("list_objects", "v2_url.xml", V2_URL)
put("list_objects", "v2_bad_url.xml", V2_URL.replace("%20", "%G0").replace("%E6", "%"))
put("list_objects", "v1.xml", V1)
put("list_objects", "error.xml", ERR)
put("list_objects", "nested.xml", "<a>" * 2000 + "</a>" * 2000)
put("list_objects", "bad_size.xml", V2.replace("110000", "-1e999999999"))
put("list_objects", "truncated.xml", V2[:300])

put("h1_response", "length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nx-oss-request-id: A\r\n\r\nhello")
put("h1_response", "chunked",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n")
put("h1_response", "interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
put("h1_response", "eof", "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbody until eof")
put("h1_response", "keepalive",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
put("h1_response", "both",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
put("h1_response", "flood", "HTTP/1.1 200 OK\r\n" + "x-a: b\r\n" * 300 + "\r\n")


def fuse(opcode, body, unique=1, nodeid=1):
    return struct.pack("<IIQQIIIHH", 40 + len(body), opcode, unique, nodeid, 0, 0, 1, 0, 0) + body


put("fuse_decode", "init", fuse(26, struct.pack("<IIII", 7, 40, 131072, 0) + b"\0" * 48))
put("fuse_decode", "lookup", fuse(1, b"file.bin\0"))
put("fuse_decode", "lookup_odd", fuse(1, "a b/ü\n..\0".encode()))
put("fuse_decode", "lookup_unterminated", fuse(1, b"noterm"))
put("fuse_decode", "getattr", fuse(3, struct.pack("<IIQ", 0, 0, 7)))
put("fuse_decode", "read", fuse(15, struct.pack("<QQIIQII", 7, 0, 131072, 0, 0, 0, 0)))
put("fuse_decode", "open", fuse(14, struct.pack("<II", 0, 0)))
put("fuse_decode", "getxattr", fuse(22, struct.pack("<II", 0, 0) + b"user.x\0"))
put("fuse_decode", "batch_forget", fuse(42, struct.pack("<II", 2, 0) + struct.pack("<QQ", 2, 1) * 2))
put("fuse_decode", "interrupt", fuse(36, struct.pack("<Q", 5)))
put("fuse_decode", "short_len", fuse(1, b"x\0")[:20])

put("sign_v4", "get", b"GET\x00data\x00train/a b.jpg\x00\x02\x01\x00x-oss-date\x0020231114T221320Z"
    b"\x01\x00host\x00data.localhost\x00OSS4-HMAC-SHA256 Credential=ak/20231114/cn-hangzhou/oss/"
    b"aliyun_v4_request,AdditionalHeaders=host,Signature=abcdef")
put("sign_v4", "v1", b"PUT\x00b\x00k\x00\x01\x00acl\x00\x00OSS ak:c2lnbmF0dXJl")
