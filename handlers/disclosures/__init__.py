"""What Waymark does when something a pupil writes, or asks, may be a disclosure: the phrase book of
each school (`books`), screening a step and raising the concern (`raising`), the DSLs' alert
(`alerts`) and what the pupil is told (`support`). Kept apart from `handlers.safeguarding`, the
matcher, which stays pure (standard library only; tests/test_screening.py holds it to that)."""
