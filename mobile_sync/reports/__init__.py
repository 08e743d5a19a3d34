"""Reports: daily rollups kept by the processing job (`rollup`), the
figures read from them (`figures`), and their CSV form (`csv_table`)."""

# Imported with the package, so that its deletion hook is registered
# wherever the rollups' is (the leads' first responses).
from mobile_sync.reports import lead_responses

__all__ = ["lead_responses"]
