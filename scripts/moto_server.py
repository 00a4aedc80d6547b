"""moto's server as Spotlight's tests run it (scripts/moto.sh starts it): moto's own code,
with DynamoDB's item writes made atomic with respect to each other, as DynamoDB makes them,
and a transaction's rollback kept to the items it names.

1. Item writes are serialized.

moto 5.2.5 serves requests on many threads and takes no lock in its DynamoDB backend. A
conditional write checks its condition and then writes, and TransactWriteItems checks and
writes item by item. Two writers running at once can therefore both pass a condition only one
of them may pass, or one's rollback can wipe out the other's committed writes. DynamoDB
serializes a transaction against every other write to its items (and a conditional write is
atomic), and Spotlight's optimistic concurrency relies on exactly that — a version condition
on an aggregate row, an `Exists` condition on the outbox record it folds: against stock moto,
two outbox processors (one killed while its transaction is still in moto, and the one started
after it) lose each other's updates. Here every item write (PutItem, UpdateItem, DeleteItem,
BatchWriteItem's, TransactWriteItems) and GetItem run under one lock. Queries and scans do not
take it: DynamoDB gives them only read-committed isolation too.

2. A transaction snapshots the items it names, not whole tables.

Before every TransactWriteItems, moto deep-copies each table the transaction names, so it can
roll back. The copy costs time in proportion to the table, and every copied item is also
appended to moto's class-level instance tracker (`BaseModel.__new__`), so the memory is never
freed: a tenant's events table of a few thousand items, written by a few hundred
transactions, holds gigabytes. DynamoDB has no such cost. Here every item the transaction
names is copied before it runs, and when moto cancels the transaction (a failed condition, a
validation error), each of those items is put back as it was, or removed if it did not exist;
the checks and errors are moto's own code. Under the lock of (1) no other write can land in
between, so the rollback is exact; the one difference from stock moto, which no test reads, is
that stream records written by a cancelled transaction stay (stock restores the whole table,
its stream included).
"""

import copy
import sys
import threading

import moto
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

# Written against moto 5.2.5's internals: another version must be read again first.
if moto.__version__ != "5.2.5":
    sys.exit(f"scripts/moto_server.py patches moto 5.2.5, not {moto.__version__}")


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


# Reentrant: TransactWriteItems reads and writes through the methods locked below.
_items_lock = threading.RLock()


def _serialized(method):
    def locked(self, *args, **kwargs):
        with _items_lock:
            return method(self, *args, **kwargs)

    locked.__name__ = method.__name__
    locked.__doc__ = method.__doc__
    return locked


def patch():
    """Applies (2), then (1) around it, so the lock is outermost."""
    dynamodb_models.copy = _TablesPassThrough()
    DynamoDBBackend.transact_write_items = _transact_write_items
    for name in ("put_item", "update_item", "delete_item", "get_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))


if __name__ == "__main__":
    patch()
    sys.exit(main())
