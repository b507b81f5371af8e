"""Shared machinery: typed settings and config loading, errors that name the fix, key encodings, tables
and figures written byte-stably.
Layer 0: imports no other deepvalue subpackage.
"""
