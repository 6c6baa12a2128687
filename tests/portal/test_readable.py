"""How the portal writes times, documents and form errors for people (bespoke.templatetags.readable,
bespoke.form_rendering), and that a license signed in an earlier wording stays in force and reads
as flowing paragraphs."""

from __future__ import annotations

from datetime import date, datetime, timezone as dt_timezone

import pytest
from django import forms
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bespoke.form_rendering import PortalBoundField
from bespoke.portal.forms import EvidenceForm
from bespoke.templatetags.readable import day_text, moment_text, paragraphs, term_labels, text_paragraphs
from consent import gate, services
from consent.models import LikenessLicense
from consent.terms import text_sha256
from tests.conftest import make_license, sign_context

MOMENT = datetime(2026, 12, 1, 13, 34, 17, 416980, tzinfo=dt_timezone.utc)


def test_a_moment_reads_to_the_minute_with_its_zone_and_a_date_as_a_day():
    assert moment_text(MOMENT) == "1 Dec 2026, 13:34 UTC"
    assert moment_text("2026-12-01T13:34:17.416980+00:00") == "1 Dec 2026, 13:34 UTC", "the API's ISO text too"
    assert moment_text("2026-12-01") == "1 Dec 2026" == day_text(date(2026, 12, 1)), "a date alone stays a date"
    assert day_text(MOMENT) == "1 Dec 2026"
    with timezone.override("Europe/Paris"):
        assert moment_text(MOMENT) == "1 Dec 2026, 14:34 CET"
    assert moment_text(None) == day_text(None) == ""
    assert moment_text("not a date") == "not a date"


def test_wrapped_lines_flow_into_their_paragraph_and_the_words_are_escaped():
    text = ("LICENSE\n\nTalent: Ann <A>\n1. Use. The Talent permits the Licensee\n   for the project \"X\",\n"
            "   and for this use only.\n2. Media.\n")
    assert text_paragraphs(text) == ["LICENSE", "Talent: Ann <A>",
                                     "1. Use. The Talent permits the Licensee for the project \"X\", and for this use only.",
                                     "2. Media."]
    assert str(paragraphs(text)).startswith("<p>LICENSE</p>\n<p>Talent: Ann &lt;A&gt;</p>")


def test_license_codes_read_as_their_labels():
    assert term_labels(["alcohol_tobacco", "political"], "excluded_categories") == "Alcohol and tobacco, Political"
    assert term_labels(["image", "video"], "permitted_media") == "Still image, Video"


def test_every_form_puts_each_error_in_its_fields_block_and_names_it():
    form = EvidenceForm({"kind": "id_document"}, {})
    assert isinstance(form["file"], PortalBoundField), "settings.FORM_RENDERER applies to every form"
    html = form.as_div()
    block = html[html.index('<div class="invalid">'):]
    block = block[:block.index("</div>")]
    assert block.index('<label for="id_file">') < block.index('<ul class="errorlist" id="id_file_error">') \
        < block.index('name="file"')
    assert 'aria-invalid="true" aria-describedby="id_file_error"' in block
    assert 'aria-describedby' not in html[html.index('name="kind"') - 80:html.index('name="kind"') + 80]


def test_a_widgets_own_description_is_kept_beside_the_help_text_and_the_error():
    class Note(forms.Form):
        note = forms.CharField(help_text="A sentence.", widget=forms.TextInput(attrs={"aria-describedby": "rules"}))

    html = Note({"note": ""}).as_div()
    assert 'aria-describedby="rules id_note_helptext id_note_error"' in html


def test_an_error_of_the_whole_form_is_said_once_in_an_alert_before_the_fields():
    class Period(forms.Form):
        start = forms.DateField()
        end = forms.DateField()

        def clean(self):  # type: ignore[no-untyped-def]
            raise forms.ValidationError("The period ends before it starts.")

    html = Period({"start": "2026-12-02", "end": "2026-12-01"}).as_div()
    assert html.count("The period ends before it starts.") == 1
    assert html.index('<div role="alert"><ul class="errorlist nonfield">') < html.index('name="start"')


OLD_WORDING = """LIKENESS LICENSE (version 1)

Talent: Alice Avery
Licensee: Northlight Studios
Signed by: the Talent

1. Use. The Talent permits the Licensee to create synthetic media depicting the Talent's likeness
   for the project "Night Market", in the role of "Mara", and for this use only:
   Lead role 'Mara' in the short film Night Market: walking and close-up scenes.
6. Exclusions. No content in these categories: alcohol_tobacco, political.
7. Compensation. per render: 250.00 EUR.
"""


@pytest.mark.django_db
def test_a_license_signed_in_an_earlier_wording_stays_in_force_and_its_page_flows(personas):
    license = make_license(personas, offered=False, signed=False, countersigned=False)
    LikenessLicense.objects.filter(pk=license.pk).update(text=OLD_WORDING, text_sha256=text_sha256(OLD_WORDING))
    license.refresh_from_db()
    license = services.license_offer(license=license, acting_user=personas.erin)
    license = services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    license = services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert license.text == OLD_WORDING and gate.license_refusal(license) == (None, ""), "the signed text is not rewritten"

    alice = Client()
    alice.force_login(personas.alice)
    page = alice.get(reverse("portal-license", args=[license.id])).content.decode().replace("&#x27;", "'")
    assert ("<p>1. Use. The Talent permits the Licensee to create synthetic media depicting the Talent's likeness "
            "for the project &quot;Night Market&quot;, in the role of &quot;Mara&quot;, and for this use only: "
            "Lead role 'Mara' in the short film Night Market: walking and close-up scenes.</p>") in page
    assert "<p>6. Exclusions. No content in these categories: alcohol_tobacco, political.</p>" in page, \
        "the page shows the words that were signed"


def test_a_checkbox_reads_as_a_sentence_beside_its_box():
    from bespoke.portal.forms import SignForm

    html = SignForm().as_div()
    assert "agree to sign electronically</label>" in html and "electronically:" not in html
