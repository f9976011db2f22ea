"""/export and "Download my record": a pupil's or alumnus's own record as a PDF in the chat.

The copy is built with `own_copy`, which never reads staff-only notes or safeguarding records (so
they cannot slip in), and the school's full export (waymark export-person) stays the route to
everything. Every copy is written to the audit log.
"""

from __future__ import annotations

from core.messages import Reply
from handlers import texts
from handlers.context import Context
from handlers.menus import main_menu
from handlers.registry import command
from reports.subject_access import to_pdf
from storage import audit, subject_access


@command("export", roles={"pupil", "alumnus"}, summary="your record as a PDF file (no staff-only notes)", order=35)
def export(ctx: Context) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    record = subject_access.collect(ctx.session, ctx.person, None, ctx.now, own_copy=True)
    pdf = to_pdf(record)
    audit.record(
        ctx.session,
        school_id=ctx.person.school_id,
        actor_id=ctx.person.id,
        action=audit.EXPORT_OWN_RECORD,
        subject_id=ctx.person.id,
        now=ctx.now,
        detail=f"/export on {ctx.incoming.platform}: {texts.EXPORT_FILE_NAME}, {len(pdf)} bytes",
    )
    return [
        Reply(
            texts.EXPORT_READY,
            buttons=main_menu(ctx),
            file=pdf,
            file_name=texts.EXPORT_FILE_NAME,
            file_type="application/pdf",
        )
    ]
