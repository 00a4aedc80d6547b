"""Checks scripts/moto_bench_server.py against stock moto, and measures what it saves.

    .venv/bin/python scripts/moto_bench_check.py STOCK_ENDPOINT BENCH_ENDPOINT STOCK_PID BENCH_PID

(`bash scripts/bench-aws-onboarding.sh --check` starts both servers and runs it.) The same requests go
to both servers: queries of a table's key (range conditions, filters, paging, reverse order,
counts) and of an index, transactions that commit and transactions moto cancels. Every answer
must be the same on both; the script exits non-zero at the first difference. Then it times 300
transactions against a table of 3,000 items on each server and prints the time and the growth
of each server's resident memory.
"""

import json
import sys
import time

import boto3

stock_endpoint, bench_endpoint, stock_pid, bench_pid = sys.argv[1:5]


def client(endpoint):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="check",
        aws_secret_access_key="check",
    )


servers = {"stock": client(stock_endpoint), "bench": client(bench_endpoint)}
pids = {"stock": stock_pid, "bench": bench_pid}


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def answer(ddb, call, **kwargs):
    """What the server says: its response without metadata, or the error and its reasons."""
    try:
        out = getattr(ddb, call)(**kwargs)
        out.pop("ResponseMetadata", None)
        return out
    except ddb.exceptions.ClientError as e:
        return {
            "error": e.response["Error"]["Code"],
            "reasons": e.response.get("CancellationReasons"),
        }


def same(call, **kwargs):
    answers = {name: answer(ddb, call, **kwargs) for name, ddb in servers.items()}
    if answers["stock"] != answers["bench"]:
        print(f"DIFFERENT answers to {call} {json.dumps(kwargs)[:300]}:")
        for name, got in answers.items():
            print(f"  {name}: {json.dumps(got, default=str)[:600]}")
        sys.exit(1)
    return answers["stock"]


def each(call, **kwargs):
    """Makes the same call on both servers, whose answers may differ only in timestamps."""
    for ddb in servers.values():
        getattr(ddb, call)(**kwargs)


def s(value):
    return {"S": value}


def n(value):
    return {"N": str(value)}


# Every table here is keyed by (pk, sk), strings.
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
KEY_ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]

each(
    "create_table",
    TableName="check",
    KeySchema=KEY_SCHEMA,
    AttributeDefinitions=KEY_ATTRIBUTES + [{"AttributeName": "g", "AttributeType": "S"}],
    GlobalSecondaryIndexes=[
        {
            "IndexName": "by-g",
            "KeySchema": [
                {"AttributeName": "g", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    BillingMode="PAY_PER_REQUEST",
)
for p in range(5):
    for i in range(40):
        item = {"pk": s(f"P{p}"), "sk": s(f"k{i:03}"), "v": n(i), "pad": s("x" * (i * 50))}
        if i % 3 == 0:
            item["g"] = s(f"G{i % 2}")
        each("put_item", TableName="check", Item=item)

queries = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": s("P1")}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": s("nobody")}},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :b)",
        "ExpressionAttributeValues": {":p": s("P2"), ":b": s("k01")},
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": s("P3"), ":a": s("k005"), ":b": s("k020")},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :a",
        "FilterExpression": "v > :v",
        "ExpressionAttributeValues": {":p": s("P0"), ":a": s("k010"), ":v": n(25)},
        "Select": "COUNT",
        "ConsistentRead": True,
    },
    {
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": s("G1")},
    },
]
for query in queries:
    same("query", TableName="check", **query)
# Paging, by count and by size (moto pages at 1 MB; the padding makes pages of a few items).
for limit in (1, 7, None):
    start = None
    while True:
        page = {"Limit": limit} if limit else {}
        if start:
            page["ExclusiveStartKey"] = start
        out = same(
            "query",
            TableName="check",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": s("P4")},
            **page,
        )
        start = out.get("LastEvaluatedKey")
        if not start:
            break

transactions = [
    # commits: a put, an update and a delete
    [
        {"Put": {"TableName": "check", "Item": {"pk": s("P0"), "sk": s("new")}}},
        {
            "Update": {
                "TableName": "check",
                "Key": {"pk": s("P1"), "sk": s("k001")},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": n(1000)},
            }
        },
        {"Delete": {"TableName": "check", "Key": {"pk": s("P2"), "sk": s("k002")}}},
    ],
    # cancelled by its last condition: nothing of it may remain
    [
        {"Put": {"TableName": "check", "Item": {"pk": s("P0"), "sk": s("never")}}},
        {
            "Update": {
                "TableName": "check",
                "Key": {"pk": s("P1"), "sk": s("k003")},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": n(-1)},
            }
        },
        {"Delete": {"TableName": "check", "Key": {"pk": s("P2"), "sk": s("k004")}}},
        {
            "ConditionCheck": {
                "TableName": "check",
                "Key": {"pk": s("P3"), "sk": s("k005")},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ],
    # cancelled: two operations on one item
    [
        {"Put": {"TableName": "check", "Item": {"pk": s("P0"), "sk": s("twice")}}},
        {"Delete": {"TableName": "check", "Key": {"pk": s("P0"), "sk": s("twice")}}},
    ],
]
for transaction in transactions:
    same("transact_write_items", TransactItems=transaction)
for p in range(5):
    same(
        "query",
        TableName="check",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": s(f"P{p}")},
    )
print("same answers from both servers: "
      f"{len(queries)} queries, 3 paged queries, {len(transactions)} transactions")

# What the snapshot costs: 300 transactions against a table of 3,000 items.
for name, ddb in servers.items():
    ddb.create_table(
        TableName="cost",
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=KEY_ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(3000):
        ddb.put_item(TableName="cost", Item={"pk": s("T"), "sk": s(f"x{i}"), "v": s("y" * 200)})
    before = resident_mb(pids[name])
    started = time.monotonic()
    for i in range(300):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "cost",
                        "Item": {"pk": s("T"), "sk": s(f"n{i}")},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": "cost",
                        "Key": {"pk": s("T"), "sk": s("x1")},
                        "UpdateExpression": "SET c = :c",
                        "ExpressionAttributeValues": {":c": n(i)},
                    }
                },
            ]
        )
    took = time.monotonic() - started
    print(
        f"{name:>5} moto: 300 transactions on a 3,000-item table in {took:.2f} s, "
        f"resident memory {before} MB -> {resident_mb(pids[name])} MB"
    )
