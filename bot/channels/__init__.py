"""The channels: one subpackage or module per platform, all on the shared base in `base.py`.

What each platform is (its name in a sentence, pushed or pulled, transcribed, minimum age, send
limits) is one row of `core.platforms.PLATFORMS`; a new channel is a row there plus a module here.
"""
