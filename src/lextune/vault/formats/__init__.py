"""One module per file format; `lextune.vault.loaders` dispatches to them by suffix.

Each loader takes `(path, raw_bytes)` and returns a LoadResult, or raises IngestError naming the file.
"""
