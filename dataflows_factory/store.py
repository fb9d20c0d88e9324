"""Where datasets live: a local folder by default, any fsspec URL through the same interface.

Layout: ``<store>/<factory>/<flow>/datapackage.json`` plus the resource files, and
``<store>/<factory>/_runs/<run_id>.json`` for run manifests.

Publishing is atomic. Locally the new dataset is built in a staging folder beside the
target and swapped in with one ``renameat2(RENAME_EXCHANGE)`` (two renames where the kernel
lacks it). On object stores, where folders cannot be renamed, resource files go under a
fresh version prefix and ``datapackage.json`` (one object, so one atomic PUT) is written
last: readers see the old dataset or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ._locking import flow_locks
from ._secrets import redact, redact_value
from .errors import DatasetNotFoundError, StoreError

__all__ = ["DEFAULT_STORE", "Store", "redact", "unversioned"]

DEFAULT_STORE = "./data"
DESCRIPTOR = "datapackage.json"
# Options fsspec filesystems take for the user and password of a URL.
_CREDENTIAL_OPTIONS = {"s3": ("key", "secret"), "s3a": ("key", "secret")}


_VERSION_PREFIX = re.compile(r"^v-\d{13}-[0-9a-f]{8}/")


def unversioned(path: str) -> str:
    """A resource path without the version prefix remote publishing puts in front of it."""
    return _VERSION_PREFIX.sub("", path)


class Store:
    """A place for datasets: a folder path or an fsspec URL (``s3://bucket/prefix``).

    >>> Store("/tmp/data").dataset_url("world", "countries")
    '/tmp/data/world/countries'
    """

    def __init__(self, url: str | os.PathLike[str] | None = None, **storage_options: Any) -> None:
        raw = os.fspath(url) if url is not None else os.environ.get("DFF_STORE") or DEFAULT_STORE
        scheme = urlsplit(raw).scheme
        self.storage_options = dict(storage_options)
        if scheme in ("", "file", "local") or (len(scheme) == 1 and os.name == "nt"):
            path = raw.split("://", 1)[1] if "://" in raw else raw
            self.url = str(Path(path).expanduser().absolute())
            self.is_local = True
            self._fs: Any = None
        else:
            self.url = self._take_credentials(raw.rstrip("/"), scheme)
            self.is_local = False
            self._fs = None
            self._check_protocol(scheme)

    def _take_credentials(self, url: str, scheme: str) -> str:
        # ``s3://KEY:SECRET@bucket`` works, but the secret must never travel with the URL
        # (plans, manifests, XCom, task results): it moves into ``storage_options``, which
        # are never serialised, and ``url`` keeps only where the store is.
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        user_option, password_option = _CREDENTIAL_OPTIONS.get(scheme, ("username", "password"))
        self.storage_options.setdefault(user_option, unquote(user))
        if password:
            self.storage_options.setdefault(password_option, unquote(password))
        return parts._replace(netloc=host).geturl()

    # -- identity -------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # A worker opens its own filesystem (a live one holds sockets and an event loop).
        return {**self.__dict__, "_fs": None}

    def __repr__(self) -> str:
        return f"Store({redact(self.url)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    @property
    def display_url(self) -> str:
        return redact(self.url)

    def _check_protocol(self, scheme: str) -> None:
        import fsspec

        try:
            fsspec.get_filesystem_class(scheme)
        except (ValueError, ImportError) as cause:
            raise StoreError(
                f"store {redact(self.url)!r}: no filesystem for scheme {scheme!r} "
                f"({redact(str(cause))}); "
                "use a local path or an fsspec URL such as s3://bucket/prefix "
                '(pip install "dataflows-factory[s3]")'
            ) from None

    @property
    def fs(self) -> Any:
        """The store's fsspec filesystem; whatever it raises but "not found" is a
        :class:`StoreError` naming the store (see :class:`_Guarded`)."""
        if self._fs is None:
            import fsspec

            protocol = urlsplit(self.url).scheme
            try:
                filesystem = fsspec.filesystem(protocol, **self.storage_options)
            except Exception as cause:
                raise _store_error(self, "open", self.url, cause) from None
            self._fs = _Guarded(filesystem, self)
        return self._fs

    # -- paths ----------------------------------------------------------------------------

    def _join(self, *parts: str) -> str:
        if self.is_local:
            return os.path.join(self.url, *parts)
        return "/".join([self.url, *parts])

    def dataset_url(self, factory: str, flow: str) -> str:
        """Where ``flow``'s dataset lives (a folder path or URL)."""
        return self._join(factory, flow)

    def descriptor_url(self, factory: str, flow: str) -> str:
        return self._join(factory, flow, DESCRIPTOR)

    def runs_url(self, factory: str) -> str:
        return self._join(factory, "_runs")

    # -- reading --------------------------------------------------------------------------

    def read_descriptor(self, factory: str, flow: str) -> dict[str, Any] | None:
        """The dataset's descriptor, or ``None`` if the flow has not been published."""
        url = self.descriptor_url(factory, flow)
        try:
            if self.is_local:
                text = Path(url).read_text(encoding="utf-8")
            else:
                # Listings are cached per process and another run may have published since.
                self.fs.invalidate_cache(url)
                text = self.fs.cat_file(url).decode("utf-8")
        except FileNotFoundError:
            return None
        except StoreError:
            raise
        except OSError as cause:
            raise StoreError(f"cannot read {redact(url)}: {cause}") from cause
        try:
            descriptor = json.loads(text)
        except json.JSONDecodeError as cause:
            raise StoreError(
                f"dataset of flow {flow!r} is unreadable: {redact(url)} is not valid JSON ({cause})"
            ) from cause
        if not isinstance(descriptor, dict):
            raise StoreError(f"dataset of flow {flow!r}: {redact(url)} is not a JSON object")
        return descriptor

    def has_files(self, factory: str, flow: str, descriptor: Mapping[str, Any]) -> bool:
        """True when every resource file the descriptor names is present with its size."""
        for resource in descriptor.get("resources", []):
            url = self._join(factory, flow, str(resource.get("path", "")))
            expected = resource.get("bytes")
            try:
                if not self.is_local:
                    self.fs.invalidate_cache(url)
                size = os.path.getsize(url) if self.is_local else self.fs.size(url)
            except (FileNotFoundError, OSError):
                return False
            if expected is not None and size != expected:
                return False
        return True

    def download(self, factory: str, flow: str, folder: str) -> str:
        """Copy the dataset into local ``folder``; returns its ``datapackage.json`` path."""
        descriptor = self.read_descriptor(factory, flow)
        if descriptor is None:
            raise DatasetNotFoundError(
                f"dataset of flow {flow!r} not found at {redact(self.dataset_url(factory, flow))}; "
                "run that flow first"
            )
        for resource in descriptor.get("resources", []):
            relative = str(resource["path"])
            target = os.path.join(folder, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            source = self._join(factory, flow, relative)
            if self.is_local:
                shutil.copyfile(source, target)
            else:
                self.fs.get_file(source, target)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, DESCRIPTOR)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(descriptor, handle)
        return path

    @contextlib.contextmanager
    def local_copy(self, factory: str, flow: str) -> Iterator[str]:
        """A local ``datapackage.json`` path for the dataset (the store's own file if local)."""
        if self.is_local:
            if self.read_descriptor(factory, flow) is None:
                raise DatasetNotFoundError(
                    f"dataset of flow {flow!r} not found at {self.dataset_url(factory, flow)}; "
                    "run that flow first"
                )
            yield self.descriptor_url(factory, flow)
            return
        with tempfile.TemporaryDirectory(prefix=f"dff-{flow}-") as tmp:
            yield self.download(factory, flow, tmp)

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, factory: str, flow: str, inputs: Iterable[str] = ()) -> Iterator[None]:
        """Hold ``flow`` for writing and ``inputs`` for reading while a step runs.

        Local stores use ``flock`` (see :mod:`dataflows_factory._locking`) and repair what
        crashed runs left behind. Object stores need no lock: every run uploads under its own
        version prefix and commits with one descriptor write, and old versions are deleted
        only after :attr:`remote_grace` seconds, so readers of the previous version finish.
        """
        if not self.is_local:
            yield
            return
        with flow_locks(self._join(factory), flow, inputs):
            yield

    @contextlib.contextmanager
    def staging(self, factory: str, flow: str) -> Iterator[str]:
        """A fresh local folder to build a dataset in; removed afterwards whatever happens.

        Local stores stage beside the target (same filesystem, so the swap is a rename).
        """
        if self.is_local:
            base = self._join(factory, ".staging")
            os.makedirs(base, exist_ok=True)
        else:
            base = None
        # The owner's pid in the name tells people whose it is; the next run of the flow
        # removes it if its owner was killed (see _locking.repair).
        path = tempfile.mkdtemp(prefix=f"{flow}-{os.getpid()}-", dir=base)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, factory: str, flow: str, staged: str) -> str:
        """Atomically make the dataset in ``staged`` the flow's dataset; returns its URL."""
        if not os.path.isfile(os.path.join(staged, DESCRIPTOR)):
            raise StoreError(f"flow {flow!r}: nothing to publish, {DESCRIPTOR} missing")
        _redact_descriptor(os.path.join(staged, DESCRIPTOR))
        if self.is_local:
            # Staging folders are private (mkdtemp makes them 0700); a published dataset is
            # readable as the umask says, like every other folder the user creates.
            os.chmod(staged, 0o777 & ~_umask())
            _swap_into_place(staged, self.dataset_url(factory, flow))
        else:
            self._publish_remote(factory, flow, staged)
        return self.dataset_url(factory, flow)

    def _publish_remote(self, factory: str, flow: str, staged: str) -> None:
        with open(os.path.join(staged, DESCRIPTOR), encoding="utf-8") as handle:
            descriptor = json.load(handle)
        # Run-scoped version prefix; its name carries its creation time for the cleanup.
        version = f"v-{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        target = self.dataset_url(factory, flow)
        for resource in descriptor.get("resources", []):
            relative = str(resource["path"])
            self.fs.put_file(os.path.join(staged, relative), f"{target}/{version}/{relative}")
            resource["path"] = f"{version}/{relative}"
        # The descriptor is the commit point: a single object write.
        self.fs.pipe_file(f"{target}/{DESCRIPTOR}", json.dumps(descriptor, indent=2).encode())
        self.collect_versions(factory, flow)

    remote_grace: float = 900.0
    """Seconds an unreferenced version of a remote dataset is kept: readers of the previous
    version, and concurrent runs between their upload and their commit, finish in peace."""

    def collect_versions(self, factory: str, flow: str) -> list[str]:
        """Delete old version prefixes of a remote dataset that its descriptor does not use."""
        target = self.dataset_url(factory, flow)
        current = self.read_descriptor(factory, flow) or {}
        used = {str(r.get("path", "")).split("/", 1)[0] for r in current.get("resources", [])}
        horizon = (time.time() - self.remote_grace) * 1000
        removed = []
        self.fs.invalidate_cache(target)
        for entry in self.fs.ls(target, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            match = re.fullmatch(r"v-(\d{13})-[0-9a-f]{8}", name)
            if match and name not in used and int(match.group(1)) <= horizon:
                self.fs.rm(entry, recursive=True)
                removed.append(name)
        return removed

    def write_json(self, url: str, payload: Any) -> None:
        """Write a small JSON document (a manifest) atomically."""
        data = json.dumps(payload, indent=2, sort_keys=True, default=str)
        try:
            if self.is_local:
                os.makedirs(os.path.dirname(url), exist_ok=True)
                tmp = f"{url}.{uuid.uuid4().hex[:8]}.tmp"
                Path(tmp).write_text(data, encoding="utf-8")
                os.replace(tmp, url)
            else:
                self.fs.pipe_file(url, data.encode())
        except StoreError:
            raise
        except OSError as cause:
            raise StoreError(f"cannot write {redact(url)}: {cause.strerror or cause}") from cause

    def read_json(self, url: str) -> Any:
        """A small JSON document (a manifest), or ``None`` if it is missing or unreadable."""
        try:
            if self.is_local:
                return json.loads(Path(url).read_text(encoding="utf-8"))
            return json.loads(self.fs.cat_file(url))
        except (OSError, ValueError):
            return None

    def list_runs(self, factory: str) -> list[str]:
        base = self.runs_url(factory)
        try:
            names = os.listdir(base) if self.is_local else self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        return sorted(name for name in names if str(name).endswith(".json"))


# -- errors of a remote filesystem -------------------------------------------------------

class _Guarded:
    """An fsspec filesystem whose errors name the store they come from.

    Every command reaches a remote store only through ``Store.fs``, so this is the one place
    where a missing credential, a refused connection or a denied access becomes one
    :class:`StoreError` (``store 's3://bucket/prefix': cannot read ...: NoCredentialsError:
    ...``) instead of a bare library exception. ``FileNotFoundError`` passes unchanged:
    callers read it as "not published yet".
    """

    def __init__(self, fs: Any, store: Store) -> None:
        self._fs = fs
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # private and dunder lookups (pickle, copy) stay ours
            raise AttributeError(name)
        attribute = getattr(self._fs, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except (FileNotFoundError, StoreError):
                raise
            except Exception as cause:
                path = str(args[0]) if args else self._store.url
                raise _store_error(self._store, name, path, cause) from cause

        return guarded


_VERBS = {"cat_file": "read", "get_file": "download", "put_file": "upload", "pipe_file": "write",
          "ls": "list", "rm": "delete", "size": "read the size of", "info": "read",
          "invalidate_cache": "refresh"}


def _store_error(store: Store, operation: str, path: str, cause: BaseException) -> StoreError:
    verb = _VERBS.get(operation, operation)
    text = f"store {store.display_url!r}: cannot {verb} {redact(path)}: {type(cause).__name__}: " \
           f"{redact(str(cause)) or repr(cause)}"
    if "credential" in f"{type(cause).__name__} {cause}".lower() or isinstance(cause, PermissionError):
        text += ("; give the store its credentials: as user and password in the store URL, "
                 "as Store(url, **storage_options), or the filesystem's usual way "
                 "(for s3://: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or ~/.aws)")
    return StoreError(text)


# -- atomic swap of folders ---------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


_RENAMEAT2 = _renameat2()


def _umask() -> int:
    """The process's umask, read without changing it where the kernel tells (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _redact_descriptor(path: str) -> None:
    # dataflows records where a resource came from (``dpp:streamedFrom``), credentials and
    # all: a SQL engine URL or an https source with a password would be published with it.
    with open(path, encoding="utf-8") as handle:
        descriptor = json.load(handle)
    cleaned = redact_value(descriptor)
    if cleaned != descriptor:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(cleaned, handle, indent=2, sort_keys=True)


def _swap_into_place(staged: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.rename(staged, target)  # no previous dataset: a plain rename is atomic
        return
    except OSError as cause:
        if cause.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
            raise StoreError(f"cannot publish {target}: {cause}") from cause
    if _RENAMEAT2 is not None:
        result = _RENAMEAT2(_AT_FDCWD, os.fsencode(staged), _AT_FDCWD, os.fsencode(target),
                            _RENAME_EXCHANGE)
        if result == 0:
            return  # ``staged`` now holds the previous dataset; the caller removes it
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
            raise StoreError(f"cannot publish {target}: {os.strerror(code)}")
    # Fallback: two renames. A crash between them leaves no dataset at the target but the
    # previous one intact in ``.trash``; readers never see a half-written dataset.
    name = f"{os.path.basename(target)}-{uuid.uuid4().hex[:8]}"
    trash = os.path.join(os.path.dirname(target), ".trash", name)
    os.makedirs(os.path.dirname(trash), exist_ok=True)
    os.rename(target, trash)
    os.rename(staged, target)
    shutil.rmtree(trash, ignore_errors=True)
