"""The license text: rendered from its structured terms, and bound by its SHA-256."""

from __future__ import annotations

import hashlib
from datetime import date


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_license_text(*, talent_name: str, licensee_name: str, use_description: str, permitted_media: list[str],
                        starts_on: date, ends_on: date, max_renders: int, excluded_categories: list[str],
                        allows_likeness_model: bool) -> str:
    excluded = ", ".join(excluded_categories) if excluded_categories else "none beyond the law"
    return "\n".join([
        "LIKENESS LICENSE",
        "",
        f"Talent: {talent_name}",
        f"Licensee: {licensee_name}",
        "",
        "1. Use. The Talent permits the Licensee to create synthetic media depicting the Talent's",
        f"   likeness for the following use only: {use_description}",
        f"2. Media. Permitted media: {', '.join(permitted_media)}.",
        f"3. Term. From {starts_on.isoformat()} to {ends_on.isoformat()} inclusive.",
        f"4. Volume. At most {max_renders} published outputs.",
        f"5. Exclusions. No content in these categories: {excluded}.",
        "6. Disclosure. Every output carries a visible AI-generated label and signed content credentials.",
        "7. Revocation. The Talent may revoke this license at any time. Revocation stops all further",
        "   generation at once; outputs already delivered before revocation are listed in the revocation record.",
        ("8. Likeness model. The Licensee may train a model of the Talent's likeness from reference photos the"
         if allows_likeness_model else
         "8. Likeness model. The Licensee may not train a model of the Talent's likeness."),
        *(["   Talent supplies. The model is stored encrypted, used only for uses this license permits, and",
           "   destroyed when no license allows it any more."] if allows_likeness_model else []),
        "",
    ])
