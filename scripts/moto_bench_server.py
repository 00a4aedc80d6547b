"""moto's server as the tests run it (scripts/moto_server.py: item writes serialized, a
transaction's rollback per item), with one more of its whole-table costs taken out, for the
paced onboarding benchmark (`scripts/moto.sh --bench`, started by
scripts/bench-aws-onboarding.sh). The cost grows with the registry table, which holds every
tenant, so with it a benchmark of 1,000 tenants measures moto's table scans rather than
Spotlight.

A Query of a table's own key reads that one partition, not every item.

moto answers a Query on a table's hash key by sorting all of the table's items and keeping
those with that hash key. DynamoDB reads only the partition. Here, while such a query runs,
the table's `all_items` yields only that partition's items (sorted as moto sorts them); the
rest of moto's query code (range conditions, filters, paging, limits) runs unchanged. Queries
of an index still scan, as in stock moto.
"""

import inspect
import sys
import threading

import moto
from moto.dynamodb.models.table import Table
from moto.server import main

from moto_server import patch


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


Table.all_items = _all_items
Table.query = _query
# Everything the tests' server changes, under the query patch.
patch()

if __name__ == "__main__":
    sys.exit(main())
