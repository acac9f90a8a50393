"""The registry of the CLI's exit codes, each with the help text users see."""

from __future__ import annotations

from enum import IntEnum

from edgemark import errors


class ExitCode(IntEnum):
    """Exit codes of the ``edgemark`` command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    MISSING_EXTRA = 4
    BAD_INPUT = 5
    BUNDLE_REJECTED = 6
    HUB_REFUSED = 7
    PRIVACY = 8
    INTERRUPTED = 130


EXIT_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "Success.",
    ExitCode.ERROR: "An edgemark error not covered by a more specific code.",
    ExitCode.USAGE: "The command line is wrong (unknown option, missing argument).",
    ExitCode.CONFIG: "Configuration is missing or invalid (environment, key files, options).",
    ExitCode.MISSING_EXTRA: "An optional dependency is missing; the message names the extra.",
    ExitCode.BAD_INPUT: "Input data does not fit (events, features, model, measurement input).",
    ExitCode.BUNDLE_REJECTED: "A bundle failed verification (integrity or signature).",
    ExitCode.HUB_REFUSED: "The hub refused the request or could not be reached.",
    ExitCode.PRIVACY: "A privacy guarantee or budget would be broken.",
    ExitCode.INTERRUPTED: "Interrupted by the user (Ctrl-C); everything started was stopped.",
}

_BY_ERROR: tuple[tuple[type[errors.EdgemarkError], ExitCode], ...] = (
    (errors.ConfigError, ExitCode.CONFIG),
    (errors.MissingExtraError, ExitCode.MISSING_EXTRA),
    (errors.BundleError, ExitCode.BUNDLE_REJECTED),
    (errors.HubError, ExitCode.HUB_REFUSED),
    (errors.PrivacyError, ExitCode.PRIVACY),
    (errors.SimError, ExitCode.BAD_INPUT),
    (errors.EventError, ExitCode.BAD_INPUT),
    (errors.FeatureError, ExitCode.BAD_INPUT),
    (errors.ModelError, ExitCode.BAD_INPUT),
    (errors.MeasureError, ExitCode.BAD_INPUT),
    (errors.EdgeError, ExitCode.BAD_INPUT),
)


def exit_code_for(error: errors.EdgemarkError) -> ExitCode:
    """The exit code for an edgemark error (the most specific registered class wins)."""
    for cls, code in _BY_ERROR:
        if isinstance(error, cls):
            return code
    return ExitCode.ERROR
