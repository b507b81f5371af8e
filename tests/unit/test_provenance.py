"""Extract checksums for the rerun decision: cached while a file is untouched, hashed again after
any write, whatever its modification time says."""

from __future__ import annotations

import hashlib
import json
import os

from deepvalue.pipeline.provenance import extract_checksums


def test_checksums_follow_the_content_not_the_modification_time(tmp_path):
    data, cache = tmp_path / "contacts.csv", tmp_path / "cache" / "sha.json"
    data.write_bytes(b"a,b\n1,2\n")
    first = extract_checksums({"contacts": str(data), "workers": str(tmp_path / "absent.csv")}, cache)
    assert first == {"contacts": hashlib.sha256(b"a,b\n1,2\n").hexdigest()}  # a missing file is left out
    assert json.loads(cache.read_text())  # cached
    st = data.stat()
    data.write_bytes(b"a,b\n3,4\n")  # same size, old modification time
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert extract_checksums({"contacts": str(data)}, cache) == {"contacts": hashlib.sha256(b"a,b\n3,4\n").hexdigest()}


def test_an_untouched_file_is_not_hashed_again(tmp_path, monkeypatch):
    from deepvalue.pipeline import provenance

    data, cache = tmp_path / "clients.csv", tmp_path / "sha.json"
    data.write_bytes(b"x\n")
    extract_checksums({"clients": str(data)}, cache)
    calls = []
    monkeypatch.setattr(provenance, "sha256_file", lambda p: calls.append(p) or "h")
    assert extract_checksums({"clients": str(data)}, cache) == {"clients": hashlib.sha256(b"x\n").hexdigest()}
    assert calls == []
