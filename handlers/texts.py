"""Words the engine and the shared commands say, in one place so they read as one voice."""

from core.retention import DEFAULTS, Duration

PRIVATE_ONLY = "I only work in private chats, so nothing said in groups is kept. Message me directly to use Waymark."
NOT_LINKED = (
    "This chat isn't linked to anyone at school yet. Ask your tutor or the careers team for "
    "an enrolment code, then send it to me like this: /start ABCDE-23456"
)
NOT_FOR_YOU = "That isn't something you can do here. Send /help to see what you can do."
UNKNOWN_COMMAND = "I don't know the command /{name}. Send /help to see what I can do."
TEXT_ONLY = "I can only read text messages, so I couldn't use that. Please type your answer instead."
TOO_LONG = (
    "That message is {length:,} characters long and I can keep up to {limit:,} at a time. "
    "Please send it in shorter parts."
)
CONTROL_CHARACTERS = (
    "That message has a hidden character in it (a control character) that I can't keep. "
    "Please type it again, or copy it from somewhere else."
)
LOST_PLACE = (
    "Sorry, I lost track of where we were, so I've started again. Everything you saved before is safe. "
    "What would you like to do?"
)
NOT_SAVED = (
    "Sorry, something went wrong on our side and that message wasn't saved. Nothing you saved before was lost, "
    "and you're still where you were: please send it again."
)
TRY_AGAIN = "Sorry, I couldn't save that just now. Nothing was lost; please send it again in a minute."
IDLE_HINT = "What would you like to do? Pick something below, or send /help."
STALE_BUTTON = "That button belongs to a conversation that has finished. Here is what you can do now:"
CANCELLED = "OK, I've stopped that. Nothing from it was saved."
CANCELLED_KEPT = "OK, I've stopped there. What you had already saved is kept."
NOTHING_TO_CANCEL = "There was nothing to stop."
DISCARD_ASK = "Discard this {noun}? Nothing in it will be saved, and it can't be undone."
DISCARD_FOR_COMMAND = (
    "You're in the middle of a {noun}. Discard it to use /{command}? Nothing in it will be saved, and it "
    "can't be undone. (Discard, then send /{command} again.)"
)
DISCARDED = "Discarded: nothing from that {noun} was saved."
DISCARD_OR_KEEP = "Please tap Keep editing or Discard."

WRONG_CODE = "That code didn't work. Check it and try again, or ask your tutor or the careers team for a new one."
SIGNIN_BUSY = (
    "Lots of people are signing in from your network just now, so sign-ins here are taking turns. "
    "Please wait a minute, then press Sign in again."
)
LOCKED_OUT = (
    "Too many codes that didn't work. Please wait 15 minutes, then try again, "
    "or ask your tutor or the careers team for help."
)
ALREADY_LINKED = "This chat is already linked to you, {name}. To link it to someone else, send /unlink first."
TOO_YOUNG = (
    "Thanks, {name}! {platform} is only for people aged {age} and over, so I can't link you here. "
    "You can use Waymark on the school's web chat instead: {url} and your code still works there."
)
_SAFE = (
    "Keeping you safe: Waymark checks every message you type for words that could mean you are not safe. "
    "If it finds some, or you tap Talk to someone or send /worried, your message and what you wrote just "
    "before it are passed straight away, at any hour, to the school's safeguarding lead: the member of "
    "staff whose job is to help keep pupils safe. They will be in touch with you. Your message is still "
    "saved as usual. What is passed on is locked (encrypted), and only the safeguarding lead can read it. "
    "A member of staff who is worried about you can pass a worry to the safeguarding lead in the same way."
)


def keeping(schedule: dict[str, Duration]) -> str:
    """How long things are kept and how to get a copy or have them deleted, from a retention schedule
    (the school's; the notice below quotes the defaults, and tests hold it to them)."""
    return (
        f"How long things are kept: your careers record (journal, advice, actions, applications) "
        f"{schedule['careers_record'].words()}. What you write in the web chat: "
        f"{schedule['transcripts'].words()} after your last message. Messages the bot has sent you: "
        f"{schedule['outbox'].words()}. The list of who opened your record: {schedule['audit'].words()}. "
        f"Anything passed to the safeguarding lead: {schedule['safeguarding'].words()}. "
        "After that it is deleted.\n\n"
        "Your own copy: send /export, or choose Download my record under My record. "
        "To have your record deleted, ask the school's careers team or the school office: they can delete "
        "it all, unless something must be kept for a while to keep you safe, and they will tell you if so."
    )


PRIVACY = (
    "Who can read what you write here: your tutors and the school's careers team. "
    "Staff notes marked private are for staff only.\n\n"
    f"{_SAFE}\n\n"
    "You can see your own record at any time with /record.\n\n"
    f"{keeping(DEFAULTS)}"
)
ALUMNI_READERS = (
    "Who can read what you write here: the school's careers team, to see how former pupils are getting on. "
    "Your email and chat accounts are kept until the yearly messages end, or until you send /stop."
)
PRIVACY_ALUMNI = f"{ALUMNI_READERS}\n\n{_SAFE}\n\n{keeping(DEFAULTS)}"
PRIVACY_STAFF = (
    "What you write here is kept in the school's careers records. Advice and agreed actions are "
    "shown to the pupil; staff-only notes are encrypted and shown to staff only. Every time you "
    "open a pupil's record it is written to the audit log. If you are worried about a pupil's safety, "
    "send /concern and their name: it goes straight to the school's safeguarding lead, and only they can read it."
)
UNLINKED = "Done: this chat is no longer linked to you. To link it again, send /start with a new code."
NOT_LINKED_UNLINK = "This chat isn't linked to anyone, so there's nothing to unlink."
START_WITHOUT_CODE = (
    "Hello! I'm Waymark, the school's careers journal. To start, send me the enrolment code your "
    "tutor or the careers team gave you, like this: /start ABCDE-23456"
)

# /export and "Download my record": a pupil's or alumnus's own copy.
DOWNLOAD_RECORD = "Download my record"
EXPORT_READY = (
    "Here is your record as a PDF file: what the school keeps about you, your journal, the advice you were "
    "given and the actions you agreed. Notes only staff can see are not in it. To ask for everything the "
    "school holds about you, ask the careers team for a full copy."
)
EXPORT_FILE_NAME = "my-record.pdf"
