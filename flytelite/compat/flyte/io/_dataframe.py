"""`flyte.io.DataFrame`: a dataframe held in memory, or stored at a path (parquet, csv).

`DataFrame.wrap_df(df)` keeps `df` itself; `open(pd.DataFrame).all()` gives it
back (converted when another type is asked for). A stored one
(`from_existing_remote(uri, format=...)`) is read with pandas on `all()`. As a
cached task's input it is keyed by the frame's content (flytelite hashes pandas
objects), or by the file's bytes, or by the `hash` it was given.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from ._storage import content_digest, filesystem, new_path, tree_digest

__all__ = ["PARQUET", "DataFrame"]

PARQUET = "parquet"
GENERIC_FORMAT = ""


def _convert(value: Any, wanted: type[Any] | None) -> Any:
    if wanted is None or isinstance(value, wanted):
        return value
    module = getattr(wanted, "__module__", "")
    if module.startswith("pandas") and hasattr(value, "to_pandas"):
        return value.to_pandas()
    if module.startswith("pyarrow") and hasattr(wanted, "from_pandas"):
        return wanted.from_pandas(value)
    if module.startswith("polars"):
        import polars  # type: ignore[import-not-found]

        return polars.from_pandas(value) if hasattr(value, "to_numpy") else polars.DataFrame(value)
    raise TypeError(
        f"flyte.io.DataFrame holds a {type(value).__name__}; it cannot be opened as "
        f"{getattr(wanted, '__name__', wanted)}."
    )


def _write_parquet(frame: Any, path: str) -> None:
    """Write a pandas, polars or pyarrow frame to `path` (local or any fsspec URL) as parquet."""
    fs, inner = filesystem(path)
    with fs.open(inner, "wb") as out:
        if hasattr(frame, "to_parquet"):
            frame.to_parquet(out)
        elif hasattr(frame, "write_parquet"):
            frame.write_parquet(out)
        else:
            importlib.import_module("pyarrow.parquet").write_table(frame, out)


class DataFrame:
    """A dataframe, in memory or at `uri`.

    Attributes:
        uri: Where it is stored, if it is.
        format: Its storage format (`"parquet"`, `"csv"`, or `""`).
        hash: A cache key given for it; else its content is hashed.
    """

    def __init__(
        self, uri: str | None = None, format: str | None = GENERIC_FORMAT, hash: str | None = None
    ) -> None:
        self.uri = uri
        self.format = format or GENERIC_FORMAT
        self.hash = hash
        self._raw_df: Any = None
        self._wanted: type[Any] | None = None

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def wrap_df(cls, val: Any = None, uri: str | None = None) -> DataFrame:
        """A `DataFrame` holding `val` (a pandas, pyarrow, polars ... frame)."""
        frame = cls(uri=uri)
        frame._raw_df = val
        return frame

    @classmethod
    def from_df(cls, val: Any = None, uri: str | None = None) -> DataFrame:
        """Another name of `wrap_df`."""
        return cls.wrap_df(val, uri)

    @classmethod
    def create_from(cls, val: Any = None, uri: str | None = None) -> DataFrame:
        """Another name of `wrap_df`."""
        return cls.wrap_df(val, uri)

    @classmethod
    def from_existing_remote(
        cls, remote_path: str, format: str | None = None, **kwargs: Any
    ) -> DataFrame:
        """A stored dataframe at `remote_path` (read when opened)."""
        return cls(uri=remote_path, format=format or GENERIC_FORMAT, hash=kwargs.get("hash"))

    @classmethod
    def from_local_sync(
        cls,
        df: Any,
        columns: Any = None,
        remote_destination: str | None = None,
        hash_method: Any = None,
    ) -> DataFrame:
        """A `DataFrame` of `df`; written as parquet to `remote_destination` when given."""
        frame = cls.wrap_df(df)
        if isinstance(hash_method, str):
            frame.hash = hash_method
        if remote_destination is not None:
            _write_parquet(df, remote_destination)
            frame.uri, frame.format = remote_destination, PARQUET
        return frame

    @classmethod
    async def from_local(cls, df: Any, *args: Any, **kwargs: Any) -> DataFrame:
        """The async form of `from_local_sync`."""
        return cls.from_local_sync(df, *args, **kwargs)

    @classmethod
    def _flyte_output(cls, value: Any) -> Any:
        """A frame a task returned, as its caller gets it from Flyte 2: written out as
        parquet (in the run's raw-data folder), with its `uri` and `format` set; it keeps
        the frame in memory too."""
        if not isinstance(value, DataFrame) or value.uri is not None or value._raw_df is None:
            return value
        path = new_path(secrets.token_hex(8))
        _write_parquet(value._raw_df, path)
        value.uri, value.format = path, PARQUET
        return value

    @classmethod
    def _flyte_input(cls, value: Any) -> Any:
        """A raw frame given for a `flyte.io.DataFrame` parameter: wrapped, as in Flyte 2."""
        if isinstance(value, DataFrame) or not hasattr(value, "columns"):
            return value
        return cls.wrap_df(value)

    def _flyte_as(self, wanted: type[Any]) -> Any:
        """This frame returned for an output annotated `wanted` (`pd.DataFrame`, ...)."""
        return _convert(self.all_sync(), wanted)

    # -- reading ---------------------------------------------------------------------------

    @property
    def val(self) -> Any:
        """The frame held in memory, if any."""
        return self._raw_df

    def open(self, dataframe_type: type[Any]) -> DataFrame:
        """Choose the type `all()` returns, e.g. `await df.open(pd.DataFrame).all()`."""
        self._wanted = dataframe_type
        return self

    def _read(self) -> Any:
        pd = importlib.import_module("pandas")

        assert self.uri is not None
        fs, inner = filesystem(self.uri)
        kind = self.format or ("csv" if inner.endswith(".csv") else PARQUET)
        if kind == "csv":
            with fs.open(inner, "rb") as f:
                return pd.read_csv(f)
        return pd.read_parquet(self.uri)

    def all_sync(self) -> Any:
        """The whole frame, as the type chosen with `open` (default: as held or read)."""
        if self._raw_df is None:
            if self.uri is None:
                raise ValueError("This DataFrame holds no data and has no uri.")
            self._raw_df = self._read()
        return _convert(self._raw_df, self._wanted)

    async def all(self) -> Any:
        """The async form of `all_sync`."""
        return self.all_sync()

    async def iter(self) -> AsyncIterator[Any]:
        """The frame in one piece (an async iterator of one item)."""
        yield self.all_sync()

    # -- identity --------------------------------------------------------------------------

    def __flytelite_hash__(self) -> Any:
        """The cache key: the `hash` given, else the frame's content, else the stored bytes."""
        if self.hash is not None:
            return ("hash", self.hash)
        if self._raw_df is not None:
            return ("frame", self._raw_df)
        assert self.uri is not None
        fs, inner = filesystem(self.uri)
        digest = tree_digest(self.uri) if fs.isdir(inner) else content_digest(self.uri)
        return ("stored", self.format, digest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataFrame):
            return NotImplemented
        if (self.uri, self.format, self.hash) != (other.uri, other.format, other.hash):
            return False
        mine, theirs = self._raw_df, other._raw_df
        if mine is None or theirs is None:
            return mine is theirs
        equals = getattr(mine, "equals", None)
        return bool(equals(theirs)) if callable(equals) else bool(mine == theirs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"DataFrame(uri={self.uri!r}, format={self.format!r}, hash={self.hash!r})"
