"""Independent readers and S3 setup for the lake-sink tests: pyarrow and DuckDB read what
connectd wrote, boto3 prepares moto's S3 server. Prints one JSON document on stdout.

  lake.py keys ENDPOINT                   IAM user with keys (moto with auth on) -> {"id","secret"}
  lake.py bucket ENDPOINT BUCKET          creates a bucket (moto's default keys)
  lake.py list ENDPOINT BUCKET            every object key in the bucket
  lake.py read ENDPOINT BUCKET PREFIX     rows of every Parquet object under PREFIX (pyarrow)
  lake.py read-local DIR                  rows of every Parquet file under DIR (pyarrow)
  lake.py duckdb SQL                      rows of a DuckDB query (files read by DuckDB itself)

Rows come with the file they were read from; timestamps as ISO strings, bytes as text.
"""

import datetime
import io
import json
import os
import sys

import boto3
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq

# moto accepts any keys until it is started with auth on; then LAKE_KEY_ID/LAKE_SECRET hold
# the keys `lake.py keys` made.
MOTO_KEYS = dict(
    aws_access_key_id=os.environ.get("LAKE_KEY_ID", "testing"),
    aws_secret_access_key=os.environ.get("LAKE_SECRET", "testing"),
)


def client(endpoint, **keys):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **(keys or MOTO_KEYS))


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def rows_of(table, name):
    return [dict(plain(r), __file=name) for r in table.to_pylist()]


def main(argv):
    cmd = argv[1]
    if cmd == "keys":
        iam = boto3.client("iam", endpoint_url=argv[2], region_name="us-east-1", **MOTO_KEYS)
        iam.create_user(UserName="lake")
        iam.put_user_policy(
            UserName="lake",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="lake")["AccessKey"]
        out = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    elif cmd == "bucket":
        client(argv[2]).create_bucket(Bucket=argv[3])
        out = {"created": argv[3]}
    elif cmd == "list":
        s3 = client(argv[2])
        keys, token = [], None
        while True:
            page = s3.list_objects_v2(Bucket=argv[3], **({"ContinuationToken": token} if token else {}))
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        uploads = s3.list_multipart_uploads(Bucket=argv[3]).get("Uploads", [])
        out = {"objects": sorted(keys), "unfinished_uploads": len(uploads)}
    elif cmd == "read":
        # boto3 fetches, pyarrow reads the bytes.
        endpoint, bucket, prefix = argv[2], argv[3], argv[4]
        s3 = client(endpoint)
        rows, token = [], None
        while True:
            page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **({"ContinuationToken": token} if token else {}))
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                rows += rows_of(pq.read_table(io.BytesIO(body)), o["Key"])
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        out = {"rows": rows}
    elif cmd == "read-local":
        rows = []
        dataset = ds.dataset(argv[2], format="parquet", partitioning=None)
        for path in sorted(dataset.files):
            rows += rows_of(pq.read_table(path), path)
        out = {"rows": rows}
    elif cmd == "duckdb":
        try:
            cursor = duckdb.sql(argv[2])
        except duckdb.IOException as e:
            if "No files found" not in str(e):
                raise
            json.dump({"rows": []}, sys.stdout)
            return
        names = [d[0] for d in cursor.description]
        out = {"rows": [plain(dict(zip(names, r))) for r in cursor.fetchall()]}
    else:
        raise SystemExit(f"unknown command {cmd}")
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv)
    sys.stdout.flush()
    # pyarrow's S3 client can abort at interpreter exit ("terminate called without an active
    # exception", seen once in CI-like runs); everything is printed, so leave without teardown.
    os._exit(0)
