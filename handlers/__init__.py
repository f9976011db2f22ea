"""The conversations, platform-free: what a message means and what to answer.

Adapters build an `Incoming`, call `Dispatcher.dispatch`, and render the `Reply`s they get back.
The conversation modules (listed in `handlers/conversations.py`) register when a Dispatcher is made.
"""

from core.messages import Button, Incoming, Reply
from handlers.engine import Dispatcher, parse_command

__all__ = ["Button", "Dispatcher", "Incoming", "Reply", "parse_command"]
