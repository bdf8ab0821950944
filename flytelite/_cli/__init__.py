"""The parts of the `flytelite` command line; `flytelite/cli.py` puts them together.

    usage        `UsageError`: a mistake on the command line (one line, exit status 2)
    loading      importing the user's file and finding a task in it
    typeinfo     annotations as the command line sees them: names, and what text can build
    params       task parameters from command-line text, checked against their annotations
    task_help    `flytelite run FILE TASK --help`
    tracebacks   tracebacks that show the user's frames only
    interrupt    a run that Ctrl-C stops cleanly
    warn         warnings as one line each
    stores       opening a cache from a URL or folder, with one-line errors
    cache        the `flytelite cache` commands

Like `cli.py`, these use flytelite's public API only, as a user's tool would.
"""
