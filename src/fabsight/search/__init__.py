"""Search over a persistent index of wafer history (LanceDB): add, remove, info, and queries."""

from fabsight.search.filters import SearchFilters, filters_from
from fabsight.search.indexing import IndexAddOptions, add_files, index_info, remove_entries
from fabsight.search.query import SearchOptions, search
from fabsight.search.store import WaferIndex

__all__ = ["IndexAddOptions", "SearchFilters", "SearchOptions", "WaferIndex", "add_files", "filters_from",
           "index_info", "remove_entries", "search"]
