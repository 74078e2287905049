"""Word vectors for free text: a GloVe-format text file, parsed once, then cached as a memory-mapped matrix.

The text format is one ``word v1 ... vD`` line per word. Words may hold spaces (GloVe 840B has a few), so
the LAST D fields are the vector and the rest is the word; a first line ``count dim`` (word2vec text
format) is a header and is skipped. The first load writes ``<name>-<hash>.npy`` (the (V, D) float32
matrix), ``.vocab.txt`` (one word a line) and ``.json`` (the text file's path, size and mtime) to the
cache folder; later loads memory-map the matrix, and rebuild when the text file has changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mosei_attn.files import atomic_path

log = logging.getLogger(__name__)

#: Size hint (bytes of text) of the lines parsed at once: big enough for numpy, small enough for memory.
CHUNK_BYTES = 1 << 24
VECTORS_CACHE_VERSION = 1
#: Where binary caches go when ``cache_dir`` is None.
DEFAULT_CACHE_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mosei_attn" / "word_vectors"
)
MAX_UNKNOWN_EXAMPLES = 5
# A decimal number ("3.5", "1,000"), else a run of letters/digits with inner apostrophes ("don't").
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_SEPARATORS_RE = re.compile(r"[ \t]+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def tokenize(text: str) -> list[str]:
    """Words of free text, case kept: split on whitespace and punctuation, keeping "don't" and "3.5" whole."""
    return _TOKEN_RE.findall(text.translate(_APOSTROPHES))


class WordVectors:
    """A vocabulary and its (V, D) float32 vectors; ``path`` is the text file they came from, if any."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, path: str | os.PathLike | None = None):
        if vectors.ndim != 2 or len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but vectors of shape {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors
        self.path = Path(path) if path is not None else None
        self._index: dict[str, int] | None = None  # built on first lookup: load stays fast
        self.unknown: Counter[str] = Counter()  # unknown words met since log_unknown()
        self.n_looked_up = 0

    @classmethod
    def load(
        cls, path: str | os.PathLike, dim: int | None = None, cache_dir: str | os.PathLike | None = None
    ) -> WordVectors:
        """Vectors of a GloVe-format text file; ``dim`` is the expected width (None: from the header, else
        from the first line: give it when the first word holds spaces).

        Uses the binary cache in ``cache_dir`` (None: ``DEFAULT_CACHE_DIR``) when it matches the file's
        size and mtime, else parses the text and writes the cache.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: word vector file not found")
        npy, vocab, meta_path = _cache_paths(path, Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR)
        stamp = _stamp(path)
        cached = _read_cache(npy, vocab, meta_path, stamp)
        if cached is not None:
            words, matrix = cached
            if dim is not None and matrix.shape[1] != dim:
                raise ValueError(f"{path}: vectors are {matrix.shape[1]}-d, expected {dim}")
            log.info("word vectors: %d x %d from cache %s", *matrix.shape, npy)
            return cls(words, matrix, path)
        words, matrix = parse_text(path, dim)
        try:
            _atomic_write(npy, lambda f: np.save(f, matrix))
            _atomic_write(vocab, lambda f: f.write("\n".join(words).encode("utf-8")))
            # written last: it is what makes the two files above count as a valid cache
            meta = {**stamp, "count": int(matrix.shape[0]), "dim": int(matrix.shape[1])}
            _atomic_write(meta_path, lambda f: f.write(json.dumps(meta).encode()))
        except OSError as e:  # a read-only cache folder costs speed, not correctness
            log.warning("word vectors: cannot write cache %s (%s); using the parsed text", npy, e)
        log.info("word vectors: %d x %d parsed from %s", *matrix.shape, path)
        return cls(words, matrix, path)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def index(self, word: str) -> int | None:
        """Row of ``word``: the exact word, else its lowercase form (GloVe 840B is cased), else None."""
        if self._index is None:
            # reversed: the first of duplicate words wins, as in most GloVe readers (~1 s for 2M words)
            self._index = dict(zip(reversed(self.words), range(len(self.words) - 1, -1, -1), strict=True))
        i = self._index.get(word)
        return self._index.get(word.lower()) if i is None else i

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.index(word) is not None

    def lookup(self, words: Iterable[str]) -> tuple[list[str], np.ndarray, list[str]]:
        """(known words, their vectors (n, D) float32, unknown words), both lists in input order."""
        known = []
        rows = []
        unknown = []
        for w in words:
            i = self.index(w)
            if i is None:
                unknown.append(w)
            else:
                known.append(w)
                rows.append(i)
        self.unknown.update(unknown)
        self.n_looked_up += len(known) + len(unknown)
        vecs = np.asarray(self.vectors[rows], dtype=np.float32).reshape(len(rows), self.dim)  # (n, D)
        return known, vecs, unknown

    def embed(self, words: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Vectors (n, D) float32 of the known words in order; unknown words are skipped and returned."""
        _, vecs, unknown = self.lookup(words)
        return vecs, unknown

    def log_unknown(
        self,
        source: str = "word vectors",
        logger: logging.Logger = log,
        max_examples: int = MAX_UNKNOWN_EXAMPLES,
    ) -> None:
        """Log how many words looked up since the last call had no vector, with the most frequent few."""
        n = sum(self.unknown.values())
        if n:
            examples = ", ".join(f"{w!r} x{c}" for w, c in self.unknown.most_common(max_examples))
            msg = "%s: %d of %d words (%d distinct) have no vector, e.g. %s"
            logger.info(msg, source, n, self.n_looked_up, len(self.unknown), examples)
        self.unknown = Counter()
        self.n_looked_up = 0

    def info(self) -> dict[str, Any]:
        """Where the vectors came from, for the model's metadata."""
        return {"kind": "glove", "path": str(self.path) if self.path else None, "dim": self.dim}

    def fingerprint(self) -> str:
        """sha256 hex of the text file's (path, size, mtime), or of the content for in-memory vectors."""
        h = hashlib.sha256()
        if self.path is not None:
            h.update(json.dumps(_stamp(self.path)).encode())
        else:
            h.update("\n".join(self.words).encode())
            h.update(np.ascontiguousarray(self.vectors, dtype=np.float32).tobytes())
        return h.hexdigest()


# Parsing --------------------------------------------------------------------------------------------
def parse_text(path: str | os.PathLike, dim: int | None = None) -> tuple[list[str], np.ndarray]:
    """(words, (V, D) float32 matrix) of a GloVe/word2vec text file; errors name the file and line."""
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        lineno, first = 0, ""
        while not first.strip():  # the first non-blank line: a header or the first word
            first, lineno = f.readline(), lineno + 1
            if not first:
                raise ValueError(f"{path}: word vector file is empty")
        head = _SEPARATORS_RE.split(first.strip(" \t\r\n"))  # not str.split(): words may hold "\xa0"
        declared = None
        if len(head) == 2 and all(x.isdigit() for x in head):  # word2vec "count dim" header
            declared, file_dim = int(head[0]), int(head[1])
            pending: list[str] = []
        else:
            file_dim, pending = len(head) - 1, [first]
        if dim is not None and file_dim != dim:
            raise ValueError(f"{path}, line {lineno}: vectors are {file_dim}-d, expected {dim}")
        if file_dim < 1:
            raise ValueError(f"{path}, line {lineno}: no vector after the word")
        matrix = np.empty((_count_lines(path), file_dim), dtype=np.float32)  # row upper bound
        words: list[str] = []
        lineno -= len(pending)  # the first word line is parsed again below
        while lines := pending or f.readlines(CHUNK_BYTES):
            pending = []
            texts = []
            linenos = []
            for line in lines:
                lineno += 1
                parts = _split_line(line, file_dim, path, lineno)
                if parts is not None:
                    words.append(parts[0])
                    texts.append(parts[1])
                    linenos.append(lineno)
            block = _parse_floats(texts, file_dim, path, linenos)  # (len(texts), D)
            matrix[len(words) - len(texts) : len(words)] = block
    if not words:
        raise ValueError(f"{path}: holds a header but no word vectors")
    if declared is not None and declared != len(words):
        raise ValueError(f"{path}: header declares {declared} words, the file holds {len(words)}")
    return words, matrix[: len(words)]


def _split_line(line: str, dim: int, path: Path, lineno: int) -> tuple[str, str] | None:
    """(word, the text of its D values), or None for a blank line."""
    line = line.rstrip()
    if not line:
        return None
    if "\t" in line or "  " in line:  # unusual separators: normalise (slow path, rare)
        line = _SEPARATORS_RE.sub(" ", line)
    n_values = line.count(" ")  # fields - 1
    if n_values < dim:
        raise ValueError(f"{path}, line {lineno}: {n_values} value(s) after the word, expected {dim}")
    if n_values == dim:  # the common case: a word without spaces
        cut = line.index(" ")
    else:  # the D-th space from the right ends the word (which may hold spaces)
        cut = len(line)
        for _ in range(dim):
            cut = line.rfind(" ", 0, cut)
    return line[:cut], line[cut + 1 :]


def _parse_floats(texts: list[str], dim: int, path: Path, linenos: list[int]) -> np.ndarray:
    """(len(texts), dim) float32 of lines of exactly ``dim`` space-separated numbers each."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # numpy < 2.3 only warns on bad data
            flat = np.fromstring(" ".join(texts), dtype=np.float32, sep=" ")
        ok = flat.size == len(texts) * dim
    except (ValueError, DeprecationWarning):
        ok = False
    if not ok:  # find the culprit line for the message
        for text, lineno in zip(texts, linenos, strict=True):
            try:
                np.array(text.split(" "), dtype=np.float32)
            except ValueError:
                raise ValueError(
                    f"{path}, line {lineno}: the vector holds a value that is not a number"
                ) from None
        raise ValueError(f"{path}, lines {linenos[0]}-{linenos[-1]}: cannot parse the vectors")
    block = flat.reshape(len(texts), dim)
    bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
    if bad.size:
        raise ValueError(f"{path}, line {linenos[bad[0]]}: the vector holds nan or inf")
    return block


def _count_lines(path: Path, block: int = CHUNK_BYTES) -> int:
    n = 1  # a last line without a newline
    with open(path, "rb") as f:
        while buf := f.read(block):
            n += buf.count(b"\n")
    return n


# Binary cache -----------------------------------------------------------------------------------------
def _stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {
        "source": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "format_version": VECTORS_CACHE_VERSION,
    }


def _cache_paths(path: Path, cache_dir: Path) -> tuple[Path, Path, Path]:
    # keyed by the resolved path alone, so a rebuilt cache replaces the stale one instead of piling up
    key = f"{path.stem}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    return cache_dir / f"{key}.npy", cache_dir / f"{key}.vocab.txt", cache_dir / f"{key}.json"


def _read_cache(
    npy: Path, vocab: Path, meta_path: Path, stamp: dict[str, Any]
) -> tuple[list[str], np.ndarray] | None:
    """(words, memory-mapped matrix) when the cache matches ``stamp``, else None (missing, stale, broken)."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in stamp} != stamp:
            log.info("word vectors: cache %s is stale (the text file changed); rebuilding", npy)
            return None
        matrix = np.load(npy, mmap_mode="r")  # (V, D), paged in on use
        words = vocab.read_bytes().decode("utf-8").split("\n")  # bytes: no newline translation
        if matrix.shape != (meta["count"], meta["dim"]) or len(words) != meta["count"]:
            raise ValueError(f"{matrix.shape} matrix and {len(words)} words, expected {meta['count']}")
        return words, matrix
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as e:
        log.warning("word vectors: cache %s is broken (%s); rebuilding", npy, e)
        return None


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
