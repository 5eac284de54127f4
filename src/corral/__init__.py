"""corral: a process supervisor that stops programs the way their authors expect.

This module stays empty on purpose: the command-line client imports it on
every run, so anything added here is paid for by `corral status`.
"""

__version__ = "0.1.0"
