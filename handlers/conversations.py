"""Every conversation module; importing this registers all commands and steps.

Loaded on first use (`registry.load_conversations`), not when `handlers` is imported, so that
`storage` can use the neutral types in `core.messages` without importing every conversation.
"""

from handlers import (  # noqa: F401  (importing a conversation module registers its commands)
    alumni,
    attention,
    caseload,
    common,
    concern,
    concerns,
    encounter,
    export,
    interests,
    leaving,
    log_advice,
    nextstep,
    pupil_view,
    record,
    refine,
    reflect,
    report,
    worried,
)
