"""The error a job raises for bad input: the command line prints it as one line and exits with 2."""

from __future__ import annotations


class JobInputError(ValueError):
    """The input, the output path or the job's options cannot work; the message says which and why."""
