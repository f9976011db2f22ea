"""The conversations, platform-free: what a message means and what to answer.

Importing this package registers every command and step; adapters call `Dispatcher.dispatch`.
"""

from handlers import (  # noqa: F401  (importing a conversation module registers its commands)
    alumni,
    attention,
    caseload,
    common,
    encounter,
    interests,
    leaving,
    log_advice,
    nextstep,
    pupil_view,
    record,
    reflect,
    report,
)
from handlers.engine import Dispatcher, parse_command
from handlers.types import Button, Incoming, Reply

__all__ = ["Button", "Dispatcher", "Incoming", "Reply", "parse_command"]
