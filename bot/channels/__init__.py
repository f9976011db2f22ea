"""The channels: one subpackage or module per platform, all on one shared base.

The base: `text` (splitting by the platform's length measure), `retry` (the one retry loop),
`ordering` (per-chat order), `base` (database threads, unreachable accounts, settling a press) and
`registry` (how `waymark run` finds the channels). What each platform is (its name in a sentence,
pushed or pulled, transcribed, minimum age, send and length limits) is one row of
`core.platforms.PLATFORMS`; a new channel is a row there plus a subpackage here offering `SERVED`.
"""
