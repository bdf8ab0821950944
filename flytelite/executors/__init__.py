"""Executors: where task bodies run when not in the run's worker threads.

An executor receives a body with its inputs and returns its output; the run
keeps the orchestration, the cache keys and the catalog, so a cache hit never
reaches an executor. An `executor=` setting is one of:

- `"thread"` (or not given): the run's worker threads; `resolve` gives `None`;
- `"process"`: the process pool shared by every run of this process, one
  worker per core (`_process`);
- an executor object, such as `fl.DaskExecutor()` (`_dask`), used as it is.

Both executors that ship with flytelite send the body with cloudpickle and
report failures the same way (`_shipping`), running it with `_worker`.

Modules:

    _worker     the worker side: run one shipped call (imports only the standard
                library and cloudpickle, so that a process worker starts fast)
    _shipping   pickling a call and reading its reply, for both executors
    _remote     the task calls a shipped body makes, run against the run's catalog
    _process    `ProcessExecutor`: a pool of worker processes on this machine
    _dask       `fl.DaskExecutor`: bodies on a Dask cluster
    _resolve    `resolve` (a setting to an executor) and the shared process pool

Nothing is imported here: each module loads when first used, and a worker
that only needs `_worker` or `_remote` loads nothing else of this package.
"""
