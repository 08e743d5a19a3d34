"""Reports: daily rollups kept by the processing job (`rollup`), the
figures read from them (`figures`), and their CSV form (`csv_table`)."""

from mobile_sync.reports import lead_responses  # noqa: F401  (registers its deletion hook)
