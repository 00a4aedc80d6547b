"""moto's server with two of its whole-table costs taken out, for the paced onboarding
benchmark (`scripts/moto.sh --bench`, started by scripts/bench-aws-onboarding.sh); the tests
run stock moto. Both costs grow with the registry table, which holds every tenant, so with
them a benchmark of 1,000 tenants measures moto's table scans rather than Spotlight.

1. A DynamoDB transaction snapshots the items it names, not whole tables.

Before every TransactWriteItems, moto 5.2.5 deep-copies each table the transaction
names, so it can roll back. The copy costs time in proportion to the table, and every copied
item is also appended to moto's class-level instance tracker (`BaseModel.__new__`), so the
memory is never freed. The registry table grows by one tenant's records per onboarding and
takes 8 transactions each: at a few hundred tenants moto spends its time copying and holds
gigabytes. DynamoDB has no such cost.

What it keeps: every item the transaction names is copied before it runs, and when moto
cancels the transaction (a failed condition, a validation error), each of those items is put
back as it was, or removed if it did not exist; the checks and errors are moto's own code.
Where it differs from stock moto, none of which the benchmark meets: stream records written
by a cancelled transaction stay (stock restores the whole table, its stream included); a
rollback can overwrite another thread's write to one of the named items made meanwhile (stock
overwrites every write to the whole table); and each named item is still copied into moto's
instance tracker, a small leak per transaction instead of a whole table.

2. A Query of a table's own key reads that one partition, not every item.

moto answers a Query on a table's hash key by sorting all of the table's items and keeping
those with that hash key. DynamoDB reads only the partition. Here, while such a query runs,
the table's `all_items` yields only that partition's items (sorted as moto sorts them); the
rest of moto's query code (range conditions, filters, paging, limits) runs unchanged. Queries
of an index still scan, as in stock moto.
"""

import copy
import sys
import threading

import inspect

import moto
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main


class _TablesPassThrough:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a Table is "copied" as
    itself (so moto's own rollback, which restores those copies, changes nothing), anything
    else as before."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _item_key(table, op):
    attrs = op.get("Key") or op.get("Item") or {}
    if table.hash_key_attr not in attrs:
        return None
    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attrs:
            return None
        range_key = DynamoType(attrs[table.range_key_attr])
    return hash_key, range_key


def _restore(table, hash_key, range_key, item):
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


_stock_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = _item_key(table, op)
        if key is None:
            continue  # moto's own code answers the malformed key
        saved.append((table, *key, copy.deepcopy(table.get_item(*key))))
    try:
        return _stock_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(saved):
            _restore(table, hash_key, range_key, item)
        raise


# Written against moto 5.2.5's internals: another version must be read again first.
if moto.__version__ != "5.2.5":
    sys.exit(f"scripts/moto_bench_server.py patches moto 5.2.5, not {moto.__version__}")

# The partition a query on this thread is reading: (table, hash key), or None.
_querying = threading.local()
_stock_all_items = Table.all_items
_stock_query = Table.query


def _all_items(self):
    partition = getattr(_querying, "partition", None)
    if partition is None or partition[0] is not self:
        return _stock_all_items(self)
    found = self.items.get(partition[1])
    if found is None:
        return []
    items = list(found.values()) if self.has_range_key else [found]
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


_QUERY = inspect.signature(_stock_query)


def _query(self, hash_key, *args, **kwargs):
    on_index = _QUERY.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
    if on_index or hash_key is None:
        return _stock_query(self, hash_key, *args, **kwargs)
    _querying.partition = (self, hash_key)
    try:
        return _stock_query(self, hash_key, *args, **kwargs)
    finally:
        _querying.partition = None


dynamodb_models.copy = _TablesPassThrough()
DynamoDBBackend.transact_write_items = _transact_write_items
Table.all_items = _all_items
Table.query = _query

if __name__ == "__main__":
    sys.exit(main())
