"""The ``modelwire`` command.

Every failure modelwire knows about ends as one line on stderr and a non-zero exit, never a
traceback: people run this in scripts and CI, where a traceback is noise around one fact.
The presentation library (rich) is imported only by the subcommands that draw tables.

Exit statuses, so a script can tell "I called it wrong" from "it failed": 0 success; 1 an
error while doing the work (config, credentials, network, the provider, a file, a stream that
ended in an error); 2 a usage error, found by argparse or by modelwire before any work starts
(an unknown ``--provider`` id, a missing ``--model``, flags that need each other); 130
interrupted.

**Layout**: ``_main`` parses the command line and dispatches (every subcommand's arguments, the
exit statuses, ``UsageError``); each larger command has its own module: ``_chat``, ``_models``,
``_login``, ``_bench``.
"""

from ._main import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    main,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "main",
]
