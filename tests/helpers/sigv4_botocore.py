#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks S3 requests weir sent (captured on loopback by tests/daemon/check_s3.c) against
botocore, AWS's own Python implementation of Signature V4, as a second implementation:

- the path of an object request is the one botocore's S3 client builds for the same key;
- the query of a list request decodes to the prefix and continuation token asked for, and is
  the canonical query botocore computes from those parameters (libcurl signs it as sent);
- a list request asks exactly ListObjectsV2 with delimiter "/" and URL-encoded keys, for the
  prefix and continuation token asked for;
- the access key, the session token and the payload hash sent are the configured ones, and the
  host, the date and every x-amz-* header sent are signed (S3 refuses an unsigned x-amz-*);
- the Authorization header's signature is the one botocore computes for the same method, path,
  query, signed headers, date, keys and region.

Input: a file of JSON lines, one per request: {"req": the request's head as sent, "access_key",
"secret", "token" (null: none may be sent), "region", "bucket", and what was asked: "key" (an
object request), or "prefix" and "page_token" (a list request; null on its first page)}. Prints
one line per request and exits 1 when any differs, 2 when botocore is missing or a record is
malformed."""
import json
import sys
from urllib.parse import parse_qsl

try:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode
except ImportError as e:
    print(f"botocore is missing ({e}): scripts/install-deps.sh installs python3-botocore",
          file=sys.stderr)
    sys.exit(2)


def head_of(raw):
    lines = raw.split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if not line:
            break
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"header line without a colon: {line!r}")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


def authorization(value):
    scheme = "AWS4-HMAC-SHA256 "
    if not value.startswith(scheme):
        raise ValueError(f"not a SigV4 Authorization: {value!r}")
    parts = {}
    for p in value[len(scheme):].split(","):
        name, sep, v = p.strip().partition("=")
        if not sep:
            raise ValueError(f"Authorization part without '=': {p!r}")
        parts[name] = v
    for need in ("Credential", "SignedHeaders", "Signature"):
        if need not in parts:
            raise ValueError(f"Authorization without {need}: {value!r}")
    return parts


def check(rec):
    """Returns a list of differences (empty: botocore agrees)."""
    method, target, headers = head_of(rec["req"])
    auth = authorization(headers["authorization"])
    ak, day, region, service, term = auth["Credential"].split("/")
    signed = auth["SignedHeaders"].split(";")
    path, _, query = target.partition("?")
    diffs = []
    if region != rec["region"] or service != "s3" or term != "aws4_request":
        diffs.append(f"credential scope {auth['Credential']!r}")
    if day != headers.get("x-amz-date", "")[:8]:
        diffs.append(f"scope day {day} is not x-amz-date's")
    params = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    if rec.get("key") is not None:
        # botocore's serializer puts an object key (a greedy URI label) in the path this way
        want = f"/{rec['bucket']}/" + percent_encode(rec["key"], safe="/~")
        if path != want:
            diffs.append(f"path {path!r}, botocore's {want!r}")
    else:
        want = {"list-type": "2", "delimiter": "/", "encoding-type": "url",
                "prefix": rec["prefix"]}
        if rec.get("page_token") is not None:
            want["continuation-token"] = rec["page_token"]
        got = dict(params)
        if len(got) != len(params) or got != want:
            diffs.append(f"list parameters {got!r}, asked {want!r}")
    if ak != rec["access_key"]:
        diffs.append(f"access key {ak!r}, configured {rec['access_key']!r}")
    if headers.get("x-amz-security-token") != rec.get("token"):
        diffs.append(f"session token {headers.get('x-amz-security-token')!r}, configured "
                     f"{rec.get('token')!r}")
    if headers.get("x-amz-content-sha256") != "UNSIGNED-PAYLOAD":
        diffs.append(f"x-amz-content-sha256 {headers.get('x-amz-content-sha256')!r}")
    unsigned = [h for h in headers
                if (h.startswith("x-amz-") or h in ("host", "x-amz-date")) and h not in signed]
    if unsigned:
        diffs.append(f"{unsigned} sent but not signed")
    missing = [h for h in signed if h not in headers]
    if missing:
        return diffs + [f"signed headers {missing} were not sent"]
    request = AWSRequest(method=method, url=f"http://{headers['host']}{path}",
                         headers={h: headers[h] for h in signed}, params=params or None)
    request.context["timestamp"] = headers["x-amz-date"]
    token = headers.get("x-amz-security-token")
    signer = S3SigV4Auth(Credentials(ak, rec["secret"], token), "s3", region)
    if params:
        canonical_query = signer.canonical_query_string(request)
        if canonical_query != query:
            diffs.append(f"query {query!r}, botocore's canonical one {canonical_query!r}")
    boto_signed = signer.signed_headers(signer.headers_to_sign(request))
    if boto_signed != auth["SignedHeaders"]:
        diffs.append(f"signed headers {auth['SignedHeaders']!r}, botocore's {boto_signed!r}")
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    if signature != auth["Signature"]:
        diffs.append(f"signature {auth['Signature']}, botocore's {signature} over:\n{canonical}")
    return diffs


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} RECORDS.jsonl")
    bad = n = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            try:
                diffs = check(rec)
            except (KeyError, ValueError) as e:
                print(f"malformed request or record ({e!r}): {rec['req']!r}", file=sys.stderr)
                sys.exit(2)
            n += 1
            first = rec["req"].split("\r\n", 1)[0]
            if diffs:
                bad += 1
                print(f"DIFFERS {first}: " + "; ".join(diffs))
            else:
                print(f"agrees  {first}")
    if n == 0:
        sys.exit("no request to check")
    print(f"{n - bad} of {n} requests agree with botocore")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
