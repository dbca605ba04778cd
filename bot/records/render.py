"""A filled form as accessible HTML (headings, a description list per part, a real table for the contact log,
each part's state in words) and as PDF through WeasyPrint, with the DejaVu fonts that ship inside matplotlib.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from bot.core import history
from bot.core.i18n import Translator
from bot.core.messages import Attachment
from bot.records.documents import FilledForm


# -- rendering -----------------------------------------------------------------------------------------
def _font_faces() -> str:
    """@font-face rules for the DejaVu fonts bundled with matplotlib (offline, whatever the machine has)."""
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = []
    for weight, name in (("normal", "DejaVuSans.ttf"), ("bold", "DejaVuSans-Bold.ttf")):
        faces.append(f"@font-face {{ font-family: 'Parley Sans'; font-weight: {weight}; "
                     f"src: url('{(ttf / name).as_uri()}'); }}")
    return "\n".join(faces)


CSS = """
body { font-family: 'Parley Sans', sans-serif; font-size: 11pt; line-height: 1.4; color: #111; margin: 0; }
h1 { font-size: 16pt; margin: 0 0 4pt; }
h2 { font-size: 13pt; margin: 16pt 0 4pt; border-bottom: 1pt solid #444; }
p.meta, p.state { margin: 2pt 0 6pt; }
p.state.open { font-weight: bold; }
dl { margin: 0; }
dt { font-weight: bold; margin-top: 6pt; }
dd { margin: 0 0 0 12pt; white-space: pre-wrap; }
table { border-collapse: collapse; width: 100%; margin-top: 4pt; font-size: 9.5pt; }
th, td { border: 0.5pt solid #444; padding: 3pt; text-align: left; vertical-align: top; }
.withheld, .empty { font-style: italic; color: #444; }
@page { size: A4; margin: 18mm 16mm; @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; } }
"""


def render_html(T: Translator, filled: FilledForm, *, for_pdf: bool = False) -> str:
    """An accessible HTML page: lang, title, one heading per part, the part's state in words, a description
    list of its fields and a real table (with column headers) for the contact log."""
    lang = T.language
    h: list[str] = [f"<!doctype html><html lang='{escape(lang)}'><head><meta charset='utf-8'>",
                    f"<title>{escape(T.local(filled.spec))} \u2014 {escape(filled.ref)}</title>"]
    h.append(f"<style>{_font_faces() if for_pdf else ''}{CSS}</style></head><body><main>")
    h.append(f"<h1>{escape(T.local(filled.spec))}</h1>")
    h.append("<p class='meta'>" + escape(T("{board} \u2014 case {ref}", board=filled.board, ref=filled.ref)) + "</p>")
    if filled.open_parts:
        h.append("<p class='state open'>" + escape(T("Still open: {parts}.", parts="; ".join(
            T.local(p.spec) for p in filled.open_parts))) + "</p>")
    else:
        h.append("<p class='state'>" + escape(T("Every part is complete.")) + "</p>")
    for part in filled.parts:
        h.append(f"<section aria-labelledby='{escape(part.spec.id)}'><h2 id='{escape(part.spec.id)}'>"
                 f"{escape(T.local(part.spec))}</h2>")
        if part.done:
            state = T("Completed by {who} on {date} (via {via}).", who=part.completed_by or "?",
                      date=T.date(part.completed_on), via=part.via or "?")  # type: ignore[arg-type]
            if part.versions > 1:
                state += " " + T("Amended: this is completion {n}; the earlier ones are kept in the case history.",
                                 n=part.versions)
            h.append(f"<p class='state'>{escape(state)}</p>")
        else:
            state = T("Not yet completed: to be completed by {who}.", who=part.completer)
            if part.due:
                state += " " + T("Due: {due}.", due=part.due)
            h.append(f"<p class='state open'>{escape(state)}</p>")
        h.append("<dl>")
        for f in part.fields:
            h.append(f"<dt>{escape(f.shown or f.label)}</dt>")
            if f.withheld:
                h.append("<dd class='withheld'>" + escape(T("Withheld: personal details are shown only to the people "
                                                            "entitled to them.")) + "</dd>")
            elif f.table is not None:
                h.append("<dd>" + _table(T, f.table) + "</dd>")
            elif f.value:
                h.append(f"<dd>{escape(f.value)}</dd>")
            else:
                h.append("<dd class='empty'>" + escape(T("Not completed")) + "</dd>")
        h.append("</dl></section>")
    h.append("</main></body></html>")
    return "".join(h)


def _table(T: Translator, rows: list[list[str]]) -> str:
    head = "".join(f"<th scope='col'>{escape(T(c))}</th>" for c in history.CONTACT_LOG_HEADER)
    if not rows:
        body = f"<tr><td colspan='{len(history.CONTACT_LOG_HEADER)}'>{escape(T('No contacts recorded yet.'))}</td></tr>"
    else:
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_pdf(T: Translator, filled: FilledForm) -> bytes:
    from weasyprint import HTML

    return HTML(string=render_html(T, filled, for_pdf=True)).write_pdf(
        pdf_variant="pdf/ua-1", custom_metadata=True)


def filename(filled: FilledForm, ext: str) -> str:
    return f"{filled.ref}-{filled.spec.id}.{ext}"


def attachments(T: Translator, filled: FilledForm) -> tuple[Attachment, ...]:
    title = T("{form} \u2014 {ref}", form=T.local(filled.spec), ref=filled.ref)
    return (Attachment(filename(filled, "pdf"), "application/pdf", render_pdf(T, filled), title),
            Attachment(filename(filled, "html"), "text/html", render_html(T, filled).encode("utf-8"),
                       T("{title} (accessible HTML)", title=title)))
